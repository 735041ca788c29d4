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


# Every rule below is one classifier of affectflow.registry (its `rule` is the rule's name); what
# its family reads (registry `reads`) picks the block, so a new classifier or family needs no edit
# here. A block's script path is a literal shared by its rules: Snakemake evaluates `script:`
# when the job runs, so a path built from the loop variable would name the last iteration's
# script for every rule of the loop; what differs per rule comes as params (the family, the
# modality). The rules, with the registry as it is: train_hmm_v, train_hmm_f, train_hmm_vf
# (script train_hmm.py), train_hmm_lm, train_svm, train_lstm and train_blstm (script
# train_models.py). A classifier no configured task uses gets no rule.

# HMMs, one rule per modality: the HMM+LM decodes the v+f HMMs' scores, so its tasks need them
# too, and for them the v+f job also fits HMMs without the validation speaker (the HMM+LM tunes
# its scale on that speaker out of sample).
for hmm in registry.trained_reading("frames"):
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
            hmm=family_settings(hmm.family),
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
for lm in registry.trained_reading("scores"):
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
            hmm_lm=family_settings(lm.family),
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


# Every family that reads the CFS-selected functionals (registry `reads`: `rows`, one vector per
# utterance, e.g. the SVM; `sequences`, one sequence per conversation, e.g. the (B)LSTM): one rule
# per classifier (train_svm, train_lstm, train_blstm), so that resources and reruns are per
# classifier. The family's config block (`models.<family>`, empty if it has none) is its params;
# what a classifier fixes on top (the BLSTM's context ablations) comes from the registry.
for clf in registry.trained_reading("rows", "sequences"):
    clf_tasks = tasks_using(clf.id)
    if not clf_tasks:
        continue

    rule:
        name:
            clf.rule
        input:
            functionals="results/folds/{fold}/functionals.parquet",
            cfs=fold_cfs(clf_tasks),
            split="results/folds/{fold}/split.json",
            labels="results/folds/{fold}/labels.parquet",
        output:
            model=per_task(clf.id, clf_tasks, clf.model_file),
            predictions=per_task(clf.id, clf_tasks, "predictions.parquet"),
        params:
            tasks=clf_tasks,
            classifier=clf.id,
            settings=family_settings(clf.family),
            seed=config_value("models", "seed"),
        log:
            f"logs/models/{clf.id}/{{fold}}.log",
        benchmark:
            f"benchmarks/runs/models/{clf.id}/{{fold}}.tsv"
        group:
            "models"
        threads: 1
        resources:
            mem_mb=mem_from_inputs(4, floor=3000),
            runtime=scaled_by_attempt(family_runtime(clf.family, len(clf_tasks))),
            gpu=family_gpu(clf.family),
        conda:
            "../../envs/affectflow.yaml"
        script:
            "../scripts/train_models.py"
