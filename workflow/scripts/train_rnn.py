"""Rules train_lstm and train_blstm: (B)LSTMs over each speaker's utterance sequence in a
dialog, every task of a fold."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_models(
        inputs=dict(snakemake.input.items()),
        tasks=snakemake.params.tasks,
        family=snakemake.params.net,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.rnn,
        seed=snakemake.params.seed,
        log=log,
    )
