# The classifiers of Tables 2 and 3, one job per (task, classifier, fold). Each family reads
# only its own config block, so changing e.g. a BLSTM knob reruns only the BLSTM jobs.
#
# All four rules are in the group "models": on a cluster (profiles/slurm, `group-components`)
# several of these short jobs are bundled into one submission, run one after another. Local
# runs ignore groups ("Group jobs: inactive"), so the grouping never changes a result.
# Resources: memory scales with the inputs a job reads (the HMMs read the frame-level LLDs, the
# other families the per-fold functionals) and, like the time limit, with the attempt, so a job
# killed for exceeding either is resubmitted with more (`retries` in the profiles).


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
    group:
        "models"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(8),
        runtime=scaled_by_attempt(60),
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
    group:
        "models"
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(1000),
        runtime=scaled_by_attempt(10),
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
    group:
        "models"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(4),
        runtime=scaled_by_attempt(30),
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
    group:
        "models"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(4, floor=3000),
        # One fold at IEMOCAP scale: about a CPU minute per initialisation and 100 epochs
        # (benchmarks/rnn.md). Limit: 4x that, at least an hour.
        runtime=lambda wildcards, attempt: attempt
        * max(
            60,
            4
            * config["models"][wildcards.net]["n_init"]
            * -(-config["models"][wildcards.net]["max_epochs"] // 100),
        ),
        gpu=lambda wildcards: int(config["models"][wildcards.net]["device"] == "cuda"),
    conda:
        "../../envs/affectflow.yaml"
    script:
        "../scripts/train_rnn.py"
