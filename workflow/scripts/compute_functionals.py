"""Rule compute_functionals: utterance functionals over the fold's normalised LLDs."""

from affectflow.logs import job_log
from affectflow.stages import folds

with job_log(snakemake.log[0]):
    folds.compute_functionals(
        snakemake.input.split,
        snakemake.input.normalizer,
        snakemake.input.pfa,
        snakemake.input.audio,
        snakemake.input.face,
        snakemake.output[0],
    )
