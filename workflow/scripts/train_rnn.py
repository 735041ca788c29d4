"""Rules train_lstm and train_blstm (one per recurrent classifier of the registry; the family
is a param): (B)LSTMs over each speaker's utterance sequence in a dialog, every task."""

from affectflow.logs import job_log
from affectflow.stages import models

with job_log(snakemake.log[0]) as log:
    models.train_models(
        dict(snakemake.input.items()),
        snakemake.params.tasks,
        snakemake.params.net,
        dict(snakemake.output.items()),
        snakemake.params.rnn,
        snakemake.params.seed,
        log,
    )
