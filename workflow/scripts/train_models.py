"""Rules train_svm, train_lstm, train_blstm, ... (one per classifier of the registry whose family
reads the CFS-selected functionals; the classifier is a param): one model per task on a fold."""

from affectflow.logs import job_log
from affectflow.stages import models

with job_log(snakemake.log[0]):
    models.train_models(
        dict(snakemake.input.items()),
        snakemake.params.tasks,
        snakemake.params.classifier,
        dict(snakemake.output.items()),
        snakemake.params.settings,
        snakemake.params.seed,
    )
