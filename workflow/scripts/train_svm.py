"""Rule train_svm: linear SMO SVMs on the fold's CFS-selected functionals, every task."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_models(
        inputs=dict(snakemake.input.items()),
        tasks=snakemake.params.tasks,
        family="svm",
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.svm,
        seed=snakemake.params.seed,
        log=log,
    )
