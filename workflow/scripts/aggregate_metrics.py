"""Rule aggregate_metrics: accuracy, UAR, UAP, F1 per (task, classifier, fold)."""

from affectflow.logs import job_log
from affectflow.stages import report

with job_log(snakemake.log[0]):
    report.aggregate_metrics(
        list(snakemake.input), snakemake.params.ids, snakemake.output[0]
    )
