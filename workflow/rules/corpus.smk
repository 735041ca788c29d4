# The corpus: generated (synthetic source) or read in place (iemocap source), then indexed.
# The generator's code hash is a param (affectflow.provenance), as the cached LLDs' key covers
# the upstream jobs only by their script and params: a changed generator means new cache keys.


rule synthesize_corpus:
    output:
        corpus=directory("resources/synthetic/{preset}-{seed}/IEMOCAP_full_release"),
        truth="resources/synthetic/{preset}-{seed}/ground_truth.parquet",
    wildcard_constraints:
        preset="tiny|demo|iemocap",
        seed=r"\d+",
    params:
        code=module_code_hash("affectflow.corpus.synth"),
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/corpus/synthesize-{preset}-{seed}.log",
    benchmark:
        "benchmarks/runs/corpus/synthesize-{preset}-{seed}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=scaled_by_attempt(30),
    script:
        "../scripts/synthesize_corpus.py"


rule index_corpus:
    input:
        corpus=get_corpus_input(),
    output:
        index="results/index/utterances.parquet",
        excluded="results/index/excluded.tsv",
    params:
        root=get_index_root,
        strict=config_value("strict"),
    conda:
        "../../envs/affectflow.yaml"
    log:
        "logs/corpus/index.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=scaled_by_attempt(20),
    script:
        "../scripts/index_corpus.py"
