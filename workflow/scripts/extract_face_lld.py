"""Rule extract_face_lld: one session's face marker LLDs to Parquet (options: the rule's params)."""

from affectflow.logs import job_log
from affectflow.stages import lld

with job_log(snakemake.log[0]):
    lld.extract_lld("face", snakemake.input.index, snakemake.params.session, *snakemake.output,
                    **snakemake.params.options)
