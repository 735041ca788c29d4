"""Rules final_split, final_select and train_final: the final models on every speaker."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    if snakemake.rule == "final_split":
        pipeline.split_final(
            snakemake.input.index, snakemake.params.utterances, snakemake.output[0], log
        )
    elif snakemake.rule == "final_select":
        pipeline.select_final_features(
            snakemake.input.functionals,
            snakemake.input.labels,
            snakemake.wildcards.task,
            snakemake.wildcards.modality,
            snakemake.output[0],
            snakemake.params.search_termination,
            log,
        )
    else:
        pipeline.train_final(
            inputs=dict(snakemake.input.items()),
            task=snakemake.wildcards.task,
            classifier=snakemake.wildcards.classifier,
            out_dir=snakemake.output[0],
            settings=snakemake.params.settings,
            seed=snakemake.params.seed,
            context={"config": snakemake.params.sections, "note": snakemake.params.note},
            log=log,
        )
