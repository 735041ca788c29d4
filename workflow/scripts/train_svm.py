"""Rule train_svm: linear SMO SVM on the fold's CFS-selected functionals."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_svm(
        inputs=dict(snakemake.input.items()),
        task=snakemake.wildcards.task,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.svm,
        seed=snakemake.params.seed,
        log=log,
    )
