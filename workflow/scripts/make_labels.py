"""Rule make_labels: level and cluster classes of every utterance of the fold."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.make_fold_labels(
        snakemake.input.index,
        snakemake.input.split,
        snakemake.input.excluded,
        snakemake.params.utterances,
        snakemake.output.labels,
        snakemake.output.clusters,
        snakemake.params.seed,
        log,
    )
