# Per-fold preparation (fold = held-out speaker). Every statistic comes from the training
# speakers only; each artifact is its own job so it can be cached and rerun alone. The final
# models' pseudo-fold `all` (every speaker trains, none is tested; final.smk) is made by the
# same rules.
# Resources: the jobs that load the frame-level LLDs of all sessions ask for memory in
# proportion to them (their Parquet size is about their float32 size in memory); every limit
# grows with the attempt, so a job killed for memory or time gets more when it is retried.


rule split_fold:
    input:
        index="results/index/utterances.parquet",
    output:
        "results/folds/{fold}/split.json",
    params:
        utterances=config_value("corpus", "utterances"),
    log:
        "logs/folds/{fold}/split.log",
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(1000),
        runtime=scaled_by_attempt(5),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/split_fold.py"


rule fit_normalizer:
    input:
        split="results/folds/{fold}/split.json",
        audio=lld_files("audio"),
        face=lld_files("face"),
    output:
        "results/folds/{fold}/normalizer.npz",
    log:
        "logs/folds/{fold}/normalizer.log",
    benchmark:
        "benchmarks/runs/folds/{fold}/normalizer.tsv"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(6),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/fit_normalizer.py"


rule fit_pfa:
    input:
        split="results/folds/{fold}/split.json",
        normalizer="results/folds/{fold}/normalizer.npz",
        face=lld_files("face"),
    output:
        "results/folds/{fold}/pfa.json",
    params:
        pfa=config_value("folds", "pfa"),
        seed=config_value("folds", "seed"),
    log:
        "logs/folds/{fold}/pfa.log",
    benchmark:
        "benchmarks/runs/folds/{fold}/pfa.tsv"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(12),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/fit_pfa.py"


rule make_labels:
    input:
        index="results/index/utterances.parquet",
        split="results/folds/{fold}/split.json",
        excluded=expand("results/lld/{session}/excluded.tsv", session=SESSIONS),
    output:
        labels="results/folds/{fold}/labels.parquet",
        clusters="results/folds/{fold}/clusters.json",
    params:
        utterances=config_value("corpus", "utterances"),
        seed=config_value("folds", "seed"),
    log:
        "logs/folds/{fold}/labels.log",
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(1000),
        runtime=scaled_by_attempt(10),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_labels.py"


rule compute_functionals:
    input:
        split="results/folds/{fold}/split.json",
        normalizer="results/folds/{fold}/normalizer.npz",
        pfa="results/folds/{fold}/pfa.json",
        audio=lld_files("audio"),
        face=lld_files("face"),
    output:
        "results/folds/{fold}/functionals.parquet",
    log:
        "logs/folds/{fold}/functionals.log",
    benchmark:
        "benchmarks/runs/folds/{fold}/functionals.tsv"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(6),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/compute_functionals.py"


rule select_features:
    input:
        functionals="results/folds/{fold}/functionals.parquet",
        labels="results/folds/{fold}/labels.parquet",
    output:
        fold_cfs(TASKS),
    params:
        tasks=TASKS,
        search_termination=config_value("selection", "search_termination"),
    log:
        "logs/folds/{fold}/cfs.log",
    benchmark:
        "benchmarks/runs/folds/{fold}/cfs.tsv"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(4, floor=3000),
        runtime=scaled_by_attempt(30 * len(TASKS)),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/select_features.py"
