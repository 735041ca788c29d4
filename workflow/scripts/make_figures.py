"""Rule make_figures: Figure 2, Table 1 as bars, confusion matrices and F1 per fold (PNG)."""

from affectflow.logs import job_log
from affectflow.stages import report

with job_log(snakemake.log[0]):
    report.make_figures(
        snakemake.input.per_fold,
        snakemake.input.table1,
        snakemake.input.labels,
        snakemake.input.clusters,
        snakemake.input.index,
        snakemake.params.fold,
        dict(snakemake.output.items()),
        snakemake.params.note,
    )
