"""Rule make_figures: Figure 2, Table 1 as bars, confusion matrices and F1 per fold (PNG)."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.make_figures(
        snakemake.input.per_fold,
        snakemake.input.table1,
        snakemake.input.labels,
        snakemake.input.clusters,
        snakemake.input.index,
        dict(snakemake.output.items()),
        snakemake.params.note,
        log,
    )
