"""Rule final_select: CFS of the final models for one task and modality."""

from affectflow.logs import job_log
from affectflow.stages import final

with job_log(snakemake.log[0]):
    final.final_select(
        snakemake.input.functionals,
        snakemake.input.labels,
        snakemake.wildcards.task,
        snakemake.wildcards.modality,
        snakemake.output[0],
        snakemake.params.search_termination,
    )
