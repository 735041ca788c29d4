"""Rule make_table1: share of CFS-selected features per group (the paper's Table 1)."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.make_table1(
        list(snakemake.input), snakemake.output.csv, snakemake.output.md, snakemake.params.note, log
    )
