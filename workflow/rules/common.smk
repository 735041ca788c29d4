# Helpers shared by all rules: paths derived from config, input functions, small utilities.
# Rules and scripts never read config directly beyond what these helpers and `params:` pass on.

from pathlib import Path

from affectflow import registry
from affectflow.corpus.layout import resolve_root
from affectflow.provenance import lld_code_hash, module_code_hash
from affectflow.targets import (
    FINAL_FOLD,
    bundle_dirs,
    canonical,
    folds,
    sessions,
    task_classifiers,
)


def config_value(*keys):
    """``config[keys[0]][keys[1]]...`` in canonical form (mappings key-sorted, recursively), for
    ``params:``. Snakemake compares params by their ``repr``, which follows a dict's key order:
    every rule takes its config values through this helper, so that the same values written in
    another key order (e.g. a config file from ``yaml.safe_dump``) never count as a change."""
    value = config
    for key in keys:
        value = value[key]
    return canonical(value)


def is_synthetic():
    return config["corpus"]["source"] == "synthetic"


def synthetic_dir():
    syn = config["corpus"]["synthetic"]
    return f"resources/synthetic/{syn['preset']}-{syn['seed']}"


def corpus_root():
    """IEMOCAP_full_release of the configured corpus (generated or real)."""
    if is_synthetic():
        return f"{synthetic_dir()}/IEMOCAP_full_release"
    root = config["corpus"]["iemocap_root"]
    if not root:
        raise ValueError(
            "config key corpus.iemocap_root is required when corpus.source is 'iemocap'"
        )
    try:
        return str(resolve_root(root))
    except FileNotFoundError as err:
        raise ValueError(f"config key corpus.iemocap_root: {err}") from None


def get_corpus_input():
    """The generated corpus folder when synthetic; nothing for the real (external) corpus."""
    return [corpus_root()] if is_synthetic() else []


def get_index_root(wildcards, input):
    """Root to index: the generated corpus input, or the configured real corpus."""
    return input.corpus[0] if is_synthetic() else corpus_root()


def scaled_by_attempt(value):
    """A resource callable: ``value`` on the first attempt, twice on the second, and so on."""
    return lambda wildcards, attempt: value * attempt


def mem_from_inputs(factor, floor=2000):
    """A mem_mb callable: ``factor`` times the inputs' size in MB (at least ``floor``), times
    the attempt. The factors come from the peaks measured at iemocap scale (docs/cluster.md)."""
    return lambda wildcards, input, attempt: max(floor, factor * input.size_mb) * attempt


# Sessions, folds, tasks and each task's classifiers in canonical order (sorted; the paper's
# task and classifier order), whatever order the config lists them in: they make rule outputs
# and `tasks` params, which must not change when only the config file's order does.
SESSIONS = sessions(config)
FOLDS = folds(config)
TASK_CLASSIFIERS = task_classifiers(config)
TASKS = list(TASK_CLASSIFIERS)


wildcard_constraints:
    session="Ses0[1-5]",
    fold=f"Ses0[1-5][FM]|{FINAL_FOLD}",
    task="|".join(TASKS) or "none",


def lld_files(kind):
    """The per-session LLD Parquet files of one kind (audio or face)."""
    return expand("results/lld/{session}/{kind}.parquet", session=SESSIONS, kind=kind)


def family_settings(family):
    """A family's config block ``models.<family>`` in canonical form (``{}`` if it has none)."""
    return canonical(config["models"].get(registry.family(family).config, {}))


def family_runtime(family, n_tasks):
    """Minutes for one (classifier, fold) job. A family trained by epochs (``max_epochs`` in its
    block, the (B)LSTMs): about a CPU minute per task, initialisation and 100 epochs at IEMOCAP
    scale (benchmarks/rnn.md), 4x that, at least an hour; any other: 30 minutes."""
    settings = family_settings(family)
    if "max_epochs" not in settings:
        return 30
    epochs = -(-settings["max_epochs"] // 100)
    return max(60, 4 * n_tasks * settings.get("n_init", 1) * epochs)


def family_gpu(family):
    """GPUs a job of ``family`` asks for: 1 when its block sets ``device: cuda``."""
    return int(family_settings(family).get("device") == "cuda")


def tasks_using(*classifiers):
    """Tasks (in canonical order) whose classifiers include any of ``classifiers``."""
    return [task for task, cs in TASK_CLASSIFIERS.items() if set(cs) & set(classifiers)]


def decoder_tasks(classifier):
    """Tasks of the classifiers that decode ``classifier``'s scores (the HMM+LM's of hmm_vf)."""
    return tasks_using(*registry.decoders_of(classifier))


def final_family(wildcards):
    """The model family of a bundle's classifier (``blstm`` for ``blstm_vf``)."""
    return registry.classifier(wildcards.classifier).family


def final_fold_file(name):
    """An artifact of the final models' pseudo-fold (made by the fold rules, folds.smk)."""
    return f"results/folds/{FINAL_FOLD}/{name}"


def final_cfs(wildcards):
    """The final CFS selection a bundle's classifier reads (its task and modality)."""
    modality = registry.classifier(wildcards.classifier).modality
    return f"results/final/prep/cfs/{wildcards.task}_{modality}.json"


def per_task(classifier, tasks, name):
    """``results/models/{task}/{classifier}/{fold}/name`` of each task, ``{fold}`` left as the
    wildcard: the files one (classifier, fold) job writes for all its tasks."""
    return [f"results/models/{task}/{classifier}/{{fold}}/{name}" for task in tasks]


def fold_cfs(tasks):
    """``results/folds/{fold}/cfs/{task}.json`` of each task, ``{fold}`` left as the wildcard."""
    return [f"results/folds/{{fold}}/cfs/{task}.json" for task in tasks]


def prediction_files():
    """predictions.parquet of every (task, classifier, fold) in the config."""
    return [
        f"results/models/{task}/{classifier}/{fold}/predictions.parquet"
        for task, classifier, fold in prediction_keys()
    ]


def prediction_keys():
    """(task, classifier, fold) of each of :func:`prediction_files`, in the same order."""
    return [
        [task, classifier, fold]
        for task, classifiers in TASK_CLASSIFIERS.items()
        for classifier in classifiers
        for fold in FOLDS
    ]


def cfs_files():
    return [f"results/folds/{fold}/cfs/{task}.json" for fold, task in cfs_keys()]


def cfs_keys():
    """(fold, task) of each of :func:`cfs_files`, in the same order."""
    return [[fold, task] for fold in FOLDS for task in TASKS]


def corpus_note():
    """Said next to every number the run shows."""
    if is_synthetic():
        syn = config["corpus"]["synthetic"]
        return (
            f"Synthetic corpus (preset {syn['preset']}, seed {syn['seed']}): "
            "these numbers are not IEMOCAP results."
        )
    return f"IEMOCAP ({config['corpus']['utterances']} utterances)."


def get_final_outputs():
    return [
        "results/index/utterances.parquet",
        "results/index/excluded.tsv",
        *expand("results/lld/{session}/excluded.tsv", session=SESSIONS),
        *cfs_files(),
        "results/tables/table1.csv",
        *prediction_files(),
        "results/metrics/per_fold.parquet",
        "results/tables/table2.csv",
        "results/tables/table3.csv",
        "results/figures/figure2.png",
        "results/figures/table1.png",
        *expand("results/figures/{kind}_{task}.png", kind=("confusion", "f1"), task=TASKS),
        *bundle_dirs(config),  # final models (final.smk); none if final.classifiers is []
    ]


# Fail before any job starts when the corpus settings cannot work.
corpus_root()
