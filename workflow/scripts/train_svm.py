"""Rule train_svm: linear SMO SVMs on the fold's CFS-selected functionals, every task."""

from affectflow.logs import job_log
from affectflow.stages import models

with job_log(snakemake.log[0]) as log:
    models.train_models(
        dict(snakemake.input.items()),
        snakemake.params.tasks,
        "svm",
        dict(snakemake.output.items()),
        snakemake.params.svm,
        snakemake.params.seed,
        log,
    )
