"""Rule select_features: Weka-faithful CFS on the fold's training functionals, every task."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.select_features(
        snakemake.input.functionals,
        snakemake.input.labels,
        snakemake.params.tasks,
        snakemake.output,
        snakemake.params.search_termination,
    )
