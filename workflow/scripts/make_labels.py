"""Rule make_labels: level and cluster classes of every utterance of the fold."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.make_labels(
        snakemake.input.index,
        snakemake.input.split,
        snakemake.input.excluded,
        snakemake.params.utterances,
        snakemake.output.labels,
        snakemake.output.clusters,
        snakemake.params.seed,
    )
