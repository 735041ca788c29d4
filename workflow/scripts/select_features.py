"""Rule select_features: Weka-faithful CFS on the fold's training functionals."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.select_fold_features(
        snakemake.input.functionals,
        snakemake.input.labels,
        snakemake.wildcards.task,
        snakemake.output[0],
        snakemake.params.search_termination,
        log,
    )
