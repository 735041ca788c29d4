# The classifiers of Tables 2 and 3, one job per (task, classifier, fold). Each family reads
# only its own config block, so changing e.g. a BLSTM knob reruns only the BLSTM jobs.


rule train_hmm:
    input:
        split="results/folds/{fold}/split.json",
        normalizer="results/folds/{fold}/normalizer.npz",
        pfa="results/folds/{fold}/pfa.json",
        labels="results/folds/{fold}/labels.parquet",
        audio=lld_files("audio"),
        face=lld_files("face"),
    output:
        model="results/models/{task}/hmm_{modality}/{fold}/model.npz",
        scores="results/models/{task}/hmm_{modality}/{fold}/scores.parquet",
        predictions="results/models/{task}/hmm_{modality}/{fold}/predictions.parquet",
    params:
        hmm=config["models"]["hmm"],
        seed=config["models"]["seed"],
    log:
        "logs/models/{task}/hmm_{modality}/{fold}.log",
    benchmark:
        "benchmarks/runs/models/{task}/hmm_{modality}/{fold}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wildcards, input, attempt: max(2000, 6 * input.size_mb) * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_hmm.py"


rule train_hmm_lm:
    input:
        scores="results/models/{task}/hmm_vf/{fold}/scores.parquet",
        split="results/folds/{fold}/split.json",
        labels="results/folds/{fold}/labels.parquet",
    output:
        model="results/models/{task}/hmm_lm_vf/{fold}/model.json",
        predictions="results/models/{task}/hmm_lm_vf/{fold}/predictions.parquet",
    params:
        hmm_lm=config["models"]["hmm_lm"],
    log:
        "logs/models/{task}/hmm_lm_vf/{fold}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_hmm_lm.py"


rule train_svm:
    input:
        functionals="results/folds/{fold}/functionals.parquet",
        cfs="results/folds/{fold}/cfs/{task}.json",
        split="results/folds/{fold}/split.json",
        labels="results/folds/{fold}/labels.parquet",
    output:
        model="results/models/{task}/svm_vf/{fold}/model.json",
        predictions="results/models/{task}/svm_vf/{fold}/predictions.parquet",
    params:
        svm=config["models"]["svm"],
        seed=config["models"]["seed"],
    log:
        "logs/models/{task}/svm_vf/{fold}.log",
    benchmark:
        "benchmarks/runs/models/{task}/svm_vf/{fold}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wildcards, attempt: 30 * attempt,
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_svm.py"


rule train_rnn:
    input:
        functionals="results/folds/{fold}/functionals.parquet",
        cfs="results/folds/{fold}/cfs/{task}.json",
        split="results/folds/{fold}/split.json",
        labels="results/folds/{fold}/labels.parquet",
    output:
        model="results/models/{task}/{net}_vf/{fold}/model.pt",
        predictions="results/models/{task}/{net}_vf/{fold}/predictions.parquet",
    params:
        rnn=lambda wildcards: config["models"][wildcards.net],
        seed=config["models"]["seed"],
    log:
        "logs/models/{task}/{net}_vf/{fold}.log",
    benchmark:
        "benchmarks/runs/models/{task}/{net}_vf/{fold}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=lambda wildcards, attempt: 60 * attempt,
        gpu=lambda wildcards: int(config["models"][wildcards.net]["device"] == "cuda"),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_rnn.py"
