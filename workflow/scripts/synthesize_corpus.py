"""Rule synthesize_corpus: generate the IEMOCAP-format synthetic corpus."""

from pathlib import Path

from affectflow.logs import job_log
from affectflow.stages import corpus

with job_log(snakemake.log[0]):
    corpus.synthesize_corpus(
        Path(snakemake.output.corpus).parent,
        preset=snakemake.wildcards.preset,
        seed=int(snakemake.wildcards.seed),
        jobs=snakemake.threads,
    )
