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


# One rule per modality: the HMM+LM decodes the v+f HMMs' scores, so its tasks need them too,
# and for them the v+f job also fits HMMs without the validation speaker (the HMM+LM tunes its
# scale on that speaker out of sample).
lm_tasks = tasks_using("hmm_lm_vf")
for hmm_modality in ("v", "f", "vf"):
    hmm_tasks = tasks_using(f"hmm_{hmm_modality}", *(["hmm_lm_vf"] if hmm_modality == "vf" else []))
    if not hmm_tasks:
        continue

    rule:
        name:
            f"train_hmm_{hmm_modality}"
        input:
            split="results/folds/{fold}/split.json",
            normalizer="results/folds/{fold}/normalizer.npz",
            pfa="results/folds/{fold}/pfa.json",
            labels="results/folds/{fold}/labels.parquet",
            audio=lld_files("audio"),
            face=lld_files("face"),
        output:
            model=per_task(f"hmm_{hmm_modality}", hmm_tasks, "model.npz"),
            scores=per_task(f"hmm_{hmm_modality}", hmm_tasks, "scores.parquet"),
            predictions=per_task(f"hmm_{hmm_modality}", hmm_tasks, "predictions.parquet"),
        params:
            tasks=hmm_tasks,
            tuning_tasks=lm_tasks if hmm_modality == "vf" else [],
            modality=hmm_modality,
            hmm=config_value("models", "hmm"),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/hmm_{hmm_modality}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/hmm_{hmm_modality}/{{fold}}.tsv"
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


if lm_tasks:

    rule train_hmm_lm:
        input:
            scores=per_task("hmm_vf", lm_tasks, "scores.parquet"),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task("hmm_lm_vf", lm_tasks, "model.json"),
            predictions=per_task("hmm_lm_vf", lm_tasks, "predictions.parquet"),
        params:
            tasks=lm_tasks,
            hmm_lm=config_value("models", "hmm_lm"),
        log:
            "logs/models/hmm_lm_vf/{fold}.log",
        benchmark:
            "benchmarks/runs/models/hmm_lm_vf/{fold}.tsv"
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


svm_tasks = tasks_using("svm_vf")
if svm_tasks:

    rule train_svm:
        input:
            functionals="results/folds/{fold}/functionals.parquet",
            cfs=fold_cfs(svm_tasks),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task("svm_vf", svm_tasks, "model.json"),
            predictions=per_task("svm_vf", svm_tasks, "predictions.parquet"),
        params:
            tasks=svm_tasks,
            svm=config_value("models", "svm"),
            seed=config_value("models", "seed"),
        log:
            "logs/models/svm_vf/{fold}.log",
        benchmark:
            "benchmarks/runs/models/svm_vf/{fold}.tsv"
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


# One rule per network (train_lstm, train_blstm), so that resources can be set per network.
for rnn_net in ("lstm", "blstm"):
    rnn_tasks = tasks_using(f"{rnn_net}_vf")
    if not rnn_tasks:
        continue

    rule:
        name:
            f"train_{rnn_net}"
        input:
            functionals="results/folds/{fold}/functionals.parquet",
            cfs=fold_cfs(rnn_tasks),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task(f"{rnn_net}_vf", rnn_tasks, "model.pt"),
            predictions=per_task(f"{rnn_net}_vf", rnn_tasks, "predictions.parquet"),
        params:
            tasks=rnn_tasks,
            net=rnn_net,
            rnn=config_value("models", rnn_net),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/{rnn_net}_vf/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{rnn_net}_vf/{{fold}}.tsv"
        group:
            "models"
        threads: 1
        resources:
            mem_mb=mem_from_inputs(4, floor=3000),
            runtime=scaled_by_attempt(rnn_runtime(rnn_net, len(rnn_tasks))),
            gpu=int(config["models"][rnn_net]["device"] == "cuda"),
        conda:
            "../../envs/affectflow.yaml"
        script:
            "../scripts/train_rnn.py"
