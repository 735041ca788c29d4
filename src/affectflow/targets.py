"""Names and paths the workflow's rules need while the Snakefile is parsed.

Pure Python on purpose (no numpy, pandas or torch): Snakemake parses the Snakefile once per
run locally, but once per job on a cluster (every SLURM job starts its own ``snakemake``), so
whatever the rule files import at parse time is paid by every job. The heavier modules
(:mod:`affectflow.labels`, :mod:`affectflow.bundle`, :mod:`affectflow.evaluation.tables`)
re-export these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The paper's five tasks, in table order.
TASKS: tuple[str, ...] = ("valence3", "activation3", "clusters3", "clusters4", "clusters5")

#: Task id -> row-group label of Tables 2 and 3.
TASK_LABELS: dict[str, str] = {
    "valence3": "valence",
    "activation3": "activation",
    "clusters3": "3 clusters",
    "clusters4": "4 clusters",
    "clusters5": "5 clusters",
}


def final_tasks(config: Mapping[str, Any]) -> list[str]:
    """Tasks of the final models: config ``final.tasks``, or every task of ``tasks``."""
    tasks = config["final"]["tasks"]
    return list(config["tasks"]) if tasks is None else list(tasks)


def bundle_dirs(config: Mapping[str, Any]) -> list[str]:
    """Bundle folders of every configured final (task, classifier); none without classifiers."""
    return [f"results/final/{task}/{classifier}"
            for task in final_tasks(config) for classifier in config["final"]["classifiers"]]


def metrics_inputs(config: Mapping[str, Any], task: str, classifier: str) -> list[str]:
    """The cross-validation metrics file, when the run cross-validates (task, classifier)."""
    if classifier in config["tasks"].get(task, []):
        return ["results/metrics/per_fold.parquet"]
    return []


def config_sections(config: Mapping[str, Any], family: str) -> dict[str, Any]:
    """Config sections a bundle of ``family`` depends on (stored and hashed in its manifest)."""
    models = config["models"]
    return {
        "corpus": config["corpus"],
        "strict": config["strict"],
        "lld": config["lld"],
        "folds": config["folds"],
        "selection": config["selection"],
        "models": {"seed": models["seed"], family: models[family]},
    }
