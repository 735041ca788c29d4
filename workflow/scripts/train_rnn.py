"""Rule train_rnn: (B)LSTM over each speaker's utterance sequence in a dialog."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_rnn(
        inputs=dict(snakemake.input.items()),
        task=snakemake.wildcards.task,
        bidirectional=snakemake.wildcards.net == "blstm",
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.rnn,
        seed=snakemake.params.seed,
        log=log,
    )
