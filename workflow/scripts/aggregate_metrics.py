"""Rule aggregate_metrics: accuracy, UAR, UAP, F1 per (task, classifier, fold)."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.aggregate_metrics(list(snakemake.input), snakemake.output[0], log)
