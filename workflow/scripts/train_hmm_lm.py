"""Rule train_hmm_lm: class bigram decoding over the v+f HMM scores."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_hmm_lm(
        inputs=dict(snakemake.input.items()),
        task=snakemake.wildcards.task,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.hmm_lm,
        log=log,
    )
