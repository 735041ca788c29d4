"""Rule make_table1: share of CFS-selected features per group (the paper's Table 1)."""

from affectflow.logs import job_log
from affectflow.stages import report

with job_log(snakemake.log[0]):
    report.make_table1(
        list(snakemake.input),
        snakemake.params.ids,
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.params.note,
        snakemake.params.synthetic,
    )
