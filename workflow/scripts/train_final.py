"""Rule train_final: the final model of (task, classifier) on every speaker, as a bundle."""

from affectflow.logs import job_log
from affectflow.stages import final

with job_log(snakemake.log[0]):
    final.train_final(
        inputs=dict(snakemake.input.items()),
        task=snakemake.wildcards.task,
        classifier=snakemake.wildcards.classifier,
        out_dir=snakemake.output[0],
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        context={"config": snakemake.params.sections, "note": snakemake.params.note},
    )
