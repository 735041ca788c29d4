"""Stages of ``final.smk``: the final models for ``affectflow predict``, one bundle per (task,
classifier), from the artifacts of the pseudo-fold :data:`affectflow.targets.FINAL_FOLD` (every
speaker trains, none is tested; made by the fold rules), with a CFS per task and modality.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from affectflow import io, registry
from affectflow.fold_tables import FoldTables, functional_sets, modality_columns, training_matrix
from affectflow.models.fitting import fit_model
from affectflow.stages.folds import write_cfs_selection

logger = logging.getLogger(__name__)


def final_select(
    functionals_path: str | Path,
    labels_path: str | Path,
    task: str,
    modality: str,
    out_path: str | Path,
    search_termination: int,
) -> None:
    """CFS of the final models: all speakers; audio channels only for ``modality="v"``."""
    X, y, names = training_matrix(FoldTables.read(functionals_path, labels_path), task)
    keep = modality_columns(names, modality)
    logger.info(f"final CFS for {task} ({modality}): {len(keep)} of {len(names)} functionals")
    write_cfs_selection(
        X[:, keep], y, [names[i] for i in keep], task, out_path, search_termination
    )


def train_final(
    inputs: Mapping[str, Any],
    task: str,
    classifier: str,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    seed: int,
    context: Mapping[str, Any],
) -> None:
    """Final model of (task, classifier) on every speaker, written as a bundle directory
    (:mod:`affectflow.bundle`); the fold recipe with no test speaker."""
    from affectflow import bundle

    bundle.parse_classifier(classifier)  # a bundle classifier, or ValueError
    tables = FoldTables.read(inputs["functionals"], inputs["labels"])
    rows, X, features = functional_sets(tables, inputs["cfs"], task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(tables.imputer.subset(features).to_json(), out / bundle.IMPUTER_FILE)
    fitted = fit_model(classifier, rows, X, task, settings, seed)
    logger.info(f"{classifier} {task}: {fitted.summary()}")
    fitted.warn_if_capped(f"{classifier} {task} (final model)")
    fitted.model.save(out / registry.classifier(classifier).model_file)
    bundle.write_bundle(out, inputs, task, classifier, context)
    logger.info(f"bundle {out}: {len(rows['train']) + len(rows['validation'])} training utterances")
