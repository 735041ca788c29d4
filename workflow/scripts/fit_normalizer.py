"""Rule fit_normalizer: audio z-statistics and face speaker means from training speakers."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.fit_normalizer(
        snakemake.input.split, snakemake.input.audio, snakemake.input.face, snakemake.output[0]
    )
