"""Rule make_tables: the paper's Tables 2 and 3 for this run, significance, Table 4 (context)."""

from affectflow.logs import job_log
from affectflow.stages import report

with job_log(snakemake.log[0]):
    report.make_tables(
        snakemake.input[0],
        dict(snakemake.output.items()),
        snakemake.params.note,
        snakemake.params.synthetic,
    )
