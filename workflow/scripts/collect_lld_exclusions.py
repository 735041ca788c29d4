"""Rule collect_lld_exclusions: one list of the utterances the LLD stage left out."""

from affectflow.logs import job_log
from affectflow.stages import lld

with job_log(snakemake.log[0]):
    lld.collect_lld_exclusions(
        {"audio": snakemake.input.audio, "face": snakemake.input.face}, snakemake.output[0]
    )
