# Final models for `affectflow predict`: the fold rules (folds.smk) make the artifacts of the
# pseudo-fold `all` (affectflow.targets.FINAL_FOLD) in results/folds/all/, where every speaker
# trains and none is tested (the last speaker in sorted order is held out for (B)LSTM early
# stopping only); here, a CFS per (task, modality) on that fold (audio columns only for `v`),
# then one self-contained bundle per (task, classifier) in results/final/{task}/{classifier}/.
# A bundle's cross-validation metrics (in its manifest) are computed from its own classifier's
# fold predictions, so retraining another classifier leaves it as it is; its params hold its
# own family's settings and the config sections it records, in canonical form.

import affectflow.targets as final_targets


rule final_select:
    input:
        functionals=final_fold_file("functionals.parquet"),
        labels=final_fold_file("labels.parquet"),
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
        "../scripts/final_select.py"


rule train_final:
    input:
        functionals=final_fold_file("functionals.parquet"),
        cfs=final_cfs,
        split=final_fold_file("split.json"),
        labels=final_fold_file("labels.parquet"),
        clusters=final_fold_file("clusters.json"),
        normalizer=final_fold_file("normalizer.npz"),
        pfa=final_fold_file("pfa.json"),
        cv_predictions=lambda wildcards: final_targets.cv_predictions(
            config, wildcards.task, wildcards.classifier
        ),
    output:
        directory("results/final/{task}/{classifier}"),
    wildcard_constraints:
        task="|".join(registry.TASKS),
        classifier="|".join(registry.BUNDLE_CLASSIFIERS),
    params:
        settings=lambda wildcards: family_settings(final_family(wildcards)),
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
        gpu=lambda wildcards: family_gpu(final_family(wildcards)),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_final.py"
