# Final models for `affectflow predict`: the fold recipe on a pseudo-fold in results/final/prep/
# where every speaker trains and none is tested (the last speaker in sorted order is held out
# for (B)LSTM early stopping only). The same stage functions and scripts as a fold; then one
# self-contained bundle per (task, classifier) in results/final/{task}/{classifier}/.
# A bundle's cross-validation metrics (in its manifest) are computed from its own classifier's
# fold predictions, so retraining another classifier leaves it as it is; its params hold its
# own family's settings and the config sections it records, in canonical form.

import affectflow.targets as final_targets


rule final_split:
    input:
        index="results/index/utterances.parquet",
    output:
        "results/final/prep/split.json",
    params:
        utterances=config_value("corpus", "utterances"),
    log:
        "logs/final/split.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=scaled_by_attempt(5),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_final.py"


rule final_normalizer:
    input:
        split="results/final/prep/split.json",
        audio=lld_files("audio"),
        face=lld_files("face"),
    output:
        "results/final/prep/normalizer.npz",
    log:
        "logs/final/normalizer.log",
    threads: 1
    resources:
        mem_mb=mem_from_inputs(6),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/fit_normalizer.py"


rule final_pfa:
    input:
        split="results/final/prep/split.json",
        normalizer="results/final/prep/normalizer.npz",
        face=lld_files("face"),
    output:
        "results/final/prep/pfa.json",
    params:
        pfa=config_value("folds", "pfa"),
        seed=config_value("folds", "seed"),
    log:
        "logs/final/pfa.log",
    threads: 1
    resources:
        mem_mb=mem_from_inputs(12),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/fit_pfa.py"


rule final_labels:
    input:
        index="results/index/utterances.parquet",
        split="results/final/prep/split.json",
        excluded=expand("results/lld/{session}/excluded.tsv", session=SESSIONS),
    output:
        labels="results/final/prep/labels.parquet",
        clusters="results/final/prep/clusters.json",
    params:
        utterances=config_value("corpus", "utterances"),
        seed=config_value("folds", "seed"),
    log:
        "logs/final/labels.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=scaled_by_attempt(10),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/make_labels.py"


rule final_functionals:
    input:
        split="results/final/prep/split.json",
        normalizer="results/final/prep/normalizer.npz",
        pfa="results/final/prep/pfa.json",
        audio=lld_files("audio"),
        face=lld_files("face"),
    output:
        "results/final/prep/functionals.parquet",
    log:
        "logs/final/functionals.log",
    threads: 1
    resources:
        mem_mb=mem_from_inputs(6),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/compute_functionals.py"


rule final_select:
    input:
        functionals="results/final/prep/functionals.parquet",
        labels="results/final/prep/labels.parquet",
    output:
        "results/final/prep/cfs/{task}_{modality}.json",
    wildcard_constraints:
        task="|".join(registry.TASKS),
        modality="|".join(registry.bundle_modalities()),
    params:
        search_termination=config_value("selection", "search_termination"),
    log:
        "logs/final/cfs_{task}_{modality}.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_final.py"


rule train_final:
    input:
        functionals="results/final/prep/functionals.parquet",
        cfs=final_cfs,
        split="results/final/prep/split.json",
        labels="results/final/prep/labels.parquet",
        clusters="results/final/prep/clusters.json",
        normalizer="results/final/prep/normalizer.npz",
        pfa="results/final/prep/pfa.json",
        cv_predictions=lambda wildcards: final_targets.cv_predictions(
            config, wildcards.task, wildcards.classifier
        ),
    output:
        directory("results/final/{task}/{classifier}"),
    wildcard_constraints:
        task="|".join(registry.TASKS),
        classifier="|".join(registry.BUNDLE_CLASSIFIERS),
    params:
        settings=lambda wildcards: config_value("models", final_family(wildcards)),
        seed=config_value("models", "seed"),
        sections=lambda wildcards: final_targets.config_sections(config, final_family(wildcards)),
        note=corpus_note(),
    log:
        "logs/final/{task}/{classifier}.log",
    benchmark:
        "benchmarks/runs/final/{task}/{classifier}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=scaled_by_attempt(60),
        gpu=lambda wildcards: int(
            config["models"][final_family(wildcards)].get("device") == "cuda"
        ),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_final.py"
