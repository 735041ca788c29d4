"""Rule split_fold: test, validation and training speakers of one fold."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.split_fold(
        snakemake.input.index,
        snakemake.wildcards.fold,
        snakemake.params.utterances,
        snakemake.output[0],
        log,
    )
