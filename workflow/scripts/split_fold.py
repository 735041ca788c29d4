"""Rule split_fold: test, validation and training speakers of one fold."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.split_fold(
        snakemake.input.index,
        snakemake.wildcards.fold,
        snakemake.params.utterances,
        snakemake.output[0],
    )
