"""Rule synthesize_corpus: generate the IEMOCAP-format synthetic corpus."""

from pathlib import Path

from affectflow.corpus.synth import generate_corpus
from affectflow.logs import job_log

with job_log(snakemake.log[0]) as log:
    out_dir = Path(snakemake.output.corpus).parent
    preset, seed = snakemake.wildcards.preset, int(snakemake.wildcards.seed)
    log(f"generating synthetic corpus preset={preset} seed={seed} in {out_dir}")
    generate_corpus(out_dir, preset=preset, seed=seed, jobs=snakemake.threads, progress=log)
    log("done")
