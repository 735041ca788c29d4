"""Rule fit_normalizer: audio z-statistics and face speaker means from training speakers."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.fit_fold_normalizer(
        snakemake.input.split,
        snakemake.input.audio,
        snakemake.input.face,
        snakemake.output[0],
        log,
    )
