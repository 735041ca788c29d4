"""Rule extract_audio_lld: one session's audio LLDs to Parquet (options: the rule's params)."""

from affectflow.logs import job_log
from affectflow.stages import lld

with job_log(snakemake.log[0]):
    lld.extract_lld("audio", snakemake.input.index, snakemake.params.session, *snakemake.output,
                    **snakemake.params.options)
