"""Rule index_corpus: one row per utterance of the corpus, plus the excluded ones."""

from affectflow.logs import job_log
from affectflow.stages import corpus

with job_log(snakemake.log[0]):
    corpus.index_corpus(
        snakemake.params.root,
        snakemake.params.strict,
        snakemake.output.index,
        snakemake.output.excluded,
    )
