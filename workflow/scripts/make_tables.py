"""Rule make_tables: the paper's Tables 2 and 3 for this run, with significance."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.make_result_tables(
        snakemake.input[0], dict(snakemake.output.items()), snakemake.params.note, log
    )
