"""Rule train_hmm_lm: class bigram decoding over the v+f HMM scores, every task of a fold."""

from affectflow.logs import job_log
from affectflow.stages import models

with job_log(snakemake.log[0]):
    models.train_hmm_lm(
        inputs=dict(snakemake.input.items()),
        tasks=snakemake.params.tasks,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.hmm_lm,
    )
