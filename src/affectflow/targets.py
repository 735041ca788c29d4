"""Names and paths the workflow's rules need while the Snakefile is parsed.

Pure Python on purpose (no numpy, pandas or torch): Snakemake parses the Snakefile once per
run locally, but once per job on a cluster (every SLURM job starts its own ``snakemake``), so
whatever the rule files import at parse time is paid by every job. The heavier modules
(:mod:`affectflow.labels`, :mod:`affectflow.bundle`, :mod:`affectflow.evaluation.tables`)
re-export these names. Tasks and classifiers themselves are defined in
:mod:`affectflow.registry` (equally light); the names here are kept for the callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from affectflow import registry

#: The paper's five tasks, in table order (from :mod:`affectflow.registry`).
TASKS: tuple[str, ...] = registry.TASKS

#: Task id -> row-group label of Tables 2 and 3.
TASK_LABELS: dict[str, str] = {name: t.label for name, t in registry.TASK_RECORDS.items()}

#: The cross-validated classifiers, in the order of the paper's tables.
CLASSIFIERS: tuple[str, ...] = registry.CLASSIFIERS

#: Name of the final models' pseudo-fold (every speaker trains, none is tested;
#: :func:`affectflow.folds.all_speakers_split`): its artifacts (``results/folds/all/``) come
#: from the same rules as a LOSO fold's.
FINAL_FOLD = "all"


def canonical(value: Any) -> Any:
    """``value`` in one canonical form: every mapping rebuilt with its keys sorted (recursively),
    tuples as lists, sets as sorted lists.

    Snakemake compares a job's params with the recorded ones by their ``repr``, and a dict's
    ``repr`` follows its insertion order: the same config section read from a file with its
    keys in another order would count as changed params and rerun the job. Lists keep their
    order (it can mean something); lists that are sets in the config are put in canonical
    order where they are read (:func:`task_classifiers`, :func:`sessions`, ...).
    """
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(canonical(item) for item in value)
    return value


def ordered(values: Iterable[str], known: Iterable[str]) -> list[str]:
    """``values`` (once each) in the order of ``known``, any others after them, sorted."""
    present = set(values)
    known = list(known)
    return [v for v in known if v in present] + sorted(present.difference(known))


def task_classifiers(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Config ``tasks`` in canonical order: tasks in the paper's order (:data:`TASKS`), each
    task's classifiers in the tables' order (:data:`CLASSIFIERS`), whatever order the config
    file lists them in. Rule outputs and the ``tasks`` params are built from this."""
    tasks = config["tasks"]
    return {task: ordered(tasks[task], CLASSIFIERS) for task in ordered(tasks, TASKS)}


def sessions(config: Mapping[str, Any]) -> list[str]:
    """``Ses01`` ... of config ``corpus.sessions``, sorted."""
    return [f"Ses0{n}" for n in sorted(set(config["corpus"]["sessions"]))]


def folds(config: Mapping[str, Any]) -> list[str]:
    """The folds (held-out speakers ``Ses01F``, ``Ses01M``, ...) of the configured sessions."""
    return [f"{session}{gender}" for session in sessions(config) for gender in "FM"]


def final_tasks(config: Mapping[str, Any]) -> list[str]:
    """Tasks of the final models: config ``final.tasks``, or every task of ``tasks``; in the
    paper's order."""
    tasks = config["final"]["tasks"]
    return ordered(config["tasks"] if tasks is None else tasks, TASKS)


def bundle_dirs(config: Mapping[str, Any]) -> list[str]:
    """Bundle folders of every configured final (task, classifier); none without classifiers."""
    return [f"results/final/{task}/{classifier}"
            for task in final_tasks(config)
            for classifier in sorted(set(config["final"]["classifiers"]))]


def cv_predictions(config: Mapping[str, Any], task: str, classifier: str) -> list[str]:
    """The predictions of every fold of (task, classifier), when the run cross-validates that
    combination (else none): a bundle's cross-validation metrics are computed from these, so a
    bundle depends on its own classifier's results only, not on every classifier's."""
    if classifier not in config["tasks"].get(task, []):
        return []
    return [f"results/models/{task}/{classifier}/{fold}/predictions.parquet"
            for fold in folds(config)]


def config_sections(config: Mapping[str, Any], family: str) -> dict[str, Any]:
    """Config sections a bundle of ``family`` depends on (stored and hashed in its manifest),
    in canonical form (:func:`canonical`, sessions sorted)."""
    models = config["models"]
    corpus = dict(config["corpus"], sessions=sorted(set(config["corpus"]["sessions"])))
    return canonical({
        "corpus": corpus,
        "strict": config["strict"],
        "lld": config["lld"],
        "folds": config["folds"],
        "selection": config["selection"],
        "models": {"seed": models["seed"], family: models.get(family, {})},
    })
