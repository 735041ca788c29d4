"""Rule index_corpus: one row per utterance of the corpus, plus the excluded ones."""

from affectflow.corpus.iemocap import build_index, write_index
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    log(f"indexing {snakemake.params.root} (strict={snakemake.params.strict})")
    index, excluded = build_index(
        snakemake.params.root, strict=snakemake.params.strict, progress=log
    )
    write_index(index, excluded, snakemake.output.index, snakemake.output.excluded)
    log(f"{len(index)} utterances indexed, {len(excluded)} excluded")
