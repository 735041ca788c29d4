"""Rule collect_lld_exclusions: one list of the utterances the LLD stage left out."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.collect_exclusions(
        {"audio": snakemake.input.audio, "face": snakemake.input.face}, snakemake.output[0], log
    )
