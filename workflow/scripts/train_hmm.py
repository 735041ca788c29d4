"""Rules train_hmm_{v,f,vf}: one HMM per class and task on a fold's frame-level features."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.train_fold_hmms(
        inputs=dict(snakemake.input.items()),
        tasks=snakemake.params.tasks,
        modality=snakemake.params.modality,
        outputs=dict(snakemake.output.items()),
        settings=snakemake.params.hmm,
        seed=snakemake.params.seed,
        log=log,
        tuning_tasks=snakemake.params.tuning_tasks,
    )
