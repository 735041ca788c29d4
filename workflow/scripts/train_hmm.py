"""Rule train_hmm: one HMM per class on frame-level features, scored on the test speaker."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_hmm(
        inputs=dict(snakemake.input.items()),
        task=snakemake.wildcards.task,
        modality=snakemake.wildcards.modality,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.hmm,
        seed=snakemake.params.seed,
        log=log,
    )
