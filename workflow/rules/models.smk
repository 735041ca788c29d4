# The classifiers of Tables 2 and 3: one job per (classifier, fold) that trains the classifier
# for every task configured with it and writes one model and one predictions file per task
# (results/models/{task}/{classifier}/{fold}/). One job per task would repeat the job's fixed
# cost per task: the interpreter and imports, reading the fold's functionals, and for the HMMs
# building the fold's frame features (several seconds at IEMOCAP scale; benchmarks/scale.md).
# Each family reads only its own config block, so changing e.g. a BLSTM knob reruns only the
# train_blstm jobs.
#
# All rules are in the group "models": on a cluster (profiles/slurm, `group-components`) several
# of these jobs are bundled into one submission, run one after another. Local runs ignore groups
# ("Group jobs: inactive"), so the grouping never changes a result.
# Resources: memory scales with the inputs a job reads (the HMMs read the frame-level LLDs, the
# other families the per-fold functionals) and, like the time limit, with the attempt, so a job
# killed for exceeding either is resubmitted with more (`retries` in the profiles).


# Every rule below is one classifier of affectflow.registry (its `rule` is the rule's name; its
# family picks the block). A block's script path is a literal shared by its rules: Snakemake
# evaluates `script:` when the job runs, so a path built from the loop variable would name the
# last iteration's script for every rule of the loop; what differs per rule comes as params
# (the family, the modality). The rules, with the registry as it is: train_hmm_v, train_hmm_f,
# train_hmm_vf (script train_hmm.py), train_hmm_lm, train_svm, train_lstm and train_blstm
# (script train_rnn.py). A classifier no configured task uses gets
# no rule.

# HMMs, one rule per modality: the HMM+LM decodes the v+f HMMs' scores, so its tasks need them
# too, and for them the v+f job also fits HMMs without the validation speaker (the HMM+LM tunes
# its scale on that speaker out of sample).
for hmm in registry.trained_by("hmm"):
    hmm_tasks = tasks_using(hmm.id, *registry.decoders_of(hmm.id))
    if not hmm_tasks:
        continue

    rule:
        name:
            hmm.rule
        input:
            split="results/folds/{fold}/split.json",
            normalizer="results/folds/{fold}/normalizer.npz",
            pfa="results/folds/{fold}/pfa.json",
            labels="results/folds/{fold}/labels.parquet",
            audio=lld_files("audio"),
            face=lld_files("face"),
        output:
            model=per_task(hmm.id, hmm_tasks, hmm.model_file),
            scores=per_task(hmm.id, hmm_tasks, "scores.parquet"),
            predictions=per_task(hmm.id, hmm_tasks, "predictions.parquet"),
        params:
            tasks=hmm_tasks,
            tuning_tasks=decoder_tasks(hmm.id),
            modality=hmm.modality,
            hmm=config_value("models", "hmm"),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/{hmm.id}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{hmm.id}/{{fold}}.tsv"
        group:
            "models"
        threads: 1
        resources:
            mem_mb=mem_from_inputs(8),
            runtime=scaled_by_attempt(30 * len(hmm_tasks)),
        conda:
            "../../envs/affectflow.yaml"
        script:
            "../scripts/train_hmm.py"


# HMM+LM: class bigram decoding of an HMM's scores (rule train_hmm_lm).
for lm in registry.trained_by("hmm_lm"):
    lm_tasks = tasks_using(lm.id)
    if not lm_tasks:
        continue

    rule:
        name:
            lm.rule
        input:
            scores=per_task(lm.scores_from, lm_tasks, "scores.parquet"),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task(lm.id, lm_tasks, lm.model_file),
            predictions=per_task(lm.id, lm_tasks, "predictions.parquet"),
        params:
            tasks=lm_tasks,
            hmm_lm=config_value("models", "hmm_lm"),
        log:
            f"logs/models/{lm.id}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{lm.id}/{{fold}}.tsv"
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


# SVM on the CFS-selected functionals (rule train_svm).
for svm in registry.trained_by("svm"):
    svm_tasks = tasks_using(svm.id)
    if not svm_tasks:
        continue

    rule:
        name:
            svm.rule
        input:
            functionals="results/folds/{fold}/functionals.parquet",
            cfs=fold_cfs(svm_tasks),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task(svm.id, svm_tasks, svm.model_file),
            predictions=per_task(svm.id, svm_tasks, "predictions.parquet"),
        params:
            tasks=svm_tasks,
            svm=config_value("models", svm.family),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/{svm.id}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{svm.id}/{{fold}}.tsv"
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


# Recurrent networks over each conversation's functionals, one rule per network (train_lstm,
# train_blstm), so that resources can be set per network.
for rnn in (*registry.trained_by("lstm"), *registry.trained_by("blstm")):
    rnn_tasks = tasks_using(rnn.id)
    if not rnn_tasks:
        continue

    rule:
        name:
            rnn.rule
        input:
            functionals="results/folds/{fold}/functionals.parquet",
            cfs=fold_cfs(rnn_tasks),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task(rnn.id, rnn_tasks, rnn.model_file),
            predictions=per_task(rnn.id, rnn_tasks, "predictions.parquet"),
        params:
            tasks=rnn_tasks,
            net=rnn.family,
            rnn=config_value("models", rnn.family),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/{rnn.id}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{rnn.id}/{{fold}}.tsv"
        group:
            "models"
        threads: 1
        resources:
            mem_mb=mem_from_inputs(4, floor=3000),
            runtime=scaled_by_attempt(rnn_runtime(rnn.family, len(rnn_tasks))),
            gpu=int(config["models"][rnn.family]["device"] == "cuda"),
        conda:
            "../../envs/affectflow.yaml"
        script:
            "../scripts/train_rnn.py"
