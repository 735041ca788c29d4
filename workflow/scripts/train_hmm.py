"""Rules train_hmm_{v,f,vf} (one per HMM classifier of the registry; the modality is a param):
one HMM per class and task on a fold's frame-level features."""

from affectflow.logs import job_log
from affectflow.stages import models

with job_log(snakemake.log[0]):
    models.train_hmm(
        inputs=dict(snakemake.input.items()),
        tasks=snakemake.params.tasks,
        modality=snakemake.params.modality,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.hmm,
        seed=snakemake.params.seed,
        tuning_tasks=snakemake.params.tuning_tasks,
    )
