"""Rule fit_pfa: Principal Feature Analysis of the normalised training face frames."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.fit_pfa(
        snakemake.input.split,
        snakemake.input.normalizer,
        snakemake.input.face,
        snakemake.output[0],
        snakemake.params.pfa,
        snakemake.params.seed,
    )
