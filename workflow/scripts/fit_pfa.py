"""Rule fit_pfa: Principal Feature Analysis of the normalised training face frames."""

from affectflow import pipeline
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    pipeline.fit_fold_pfa(
        snakemake.input.split,
        snakemake.input.normalizer,
        snakemake.input.face,
        snakemake.output[0],
        snakemake.params.pfa,
        snakemake.params.seed,
        log,
    )
