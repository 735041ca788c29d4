"""Fitting a functional-based model (SVM, (B)LSTM, any family that reads ``rows`` or
``sequences``) on a fold's CFS-selected functionals: shared by the fold jobs and the final
bundles, so a bundle's model is trained exactly as the cross-validated one.

The registry says how a family reads its inputs and what the validation speaker is for; nothing
here branches on a family's name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from affectflow import labels, registry
from affectflow.fold_tables import sequences_by_speaker_dialog
from affectflow.models.scoring import new_estimator

logger = logging.getLogger(__name__)


@dataclass
class FittedModel:
    """A model fitted on a fold's functionals, with what scoring and provenance need.

    ``inputs`` / ``rows``: per role (train, validation, test) the model's inputs (the family's
    form: a matrix or per-conversation sequences) and the label rows in the same order;
    ``train_ids`` / ``validation_ids``: the utterances it was fitted on and stopped on."""

    model: Any
    inputs: dict[str, Any]
    rows: dict[str, pd.DataFrame]
    train_ids: list[str]
    validation_ids: list[str]

    def summary(self) -> str:
        """For the log: the training size and, for an early-stopped model, its best epoch."""
        text = f"{len(self.train_ids)} training utterances"
        best = getattr(self.model, "best_epoch_", None)
        return text if best is None else f"{text}, best epoch {best}"

    @property
    def reached_max_epochs(self) -> bool | None:
        """For a model trained by epochs and stopped early on the validation speaker: whether
        its training ran to ``max_epochs`` without the patience rule stopping it (best epoch
        later than ``max_epochs - patience``: the validation score may still have been
        improving). ``None`` for any other model."""
        best = getattr(self.model, "best_epoch_", None)
        if best is None or not self.validation_ids:
            return None
        return int(best) > int(self.model.max_epochs) - int(self.model.patience)

    def training_metadata(self) -> dict[str, object]:
        """What the predictions file records of the training (epochs of an epoch-trained
        model; nothing for the others)."""
        if self.reached_max_epochs is None:
            return {}
        return {"best_epoch": int(self.model.best_epoch_),
                "max_epochs": int(self.model.max_epochs),
                "patience": int(self.model.patience),
                "reached_max_epochs": bool(self.reached_max_epochs)}

    def warn_if_capped(self, what: str) -> None:
        """Log a warning when training reached ``max_epochs`` without early stopping."""
        if self.reached_max_epochs:
            logger.warning(
                f"WARNING: {what}: training reached max_epochs ({self.model.max_epochs}) "
                f"without early stopping (best epoch {self.model.best_epoch_} > max_epochs - "
                f"patience = {self.model.max_epochs - self.model.patience}): the validation "
                "loss may still have been falling; raise max_epochs or the learning rate")


def model_inputs(
    reads: str, rows: Mapping[str, pd.DataFrame], X: Mapping[str, np.ndarray], task: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, pd.DataFrame]]:
    """Per role: a family's inputs, their labels and the label rows in input order.

    ``reads="rows"``: the functional matrix and label vector as they are; ``"sequences"``:
    one sequence per (dialog, speaker) in turn order (:func:`sequences_by_speaker_dialog`)."""
    if reads == "rows":
        ys = {role: rows[role][task].to_numpy(np.int64) for role in rows}
        return dict(X), ys, dict(rows)
    if reads != "sequences":
        raise ValueError(f"no functional inputs for a family that reads {reads!r}")
    seqs, ys, ordered = {}, {}, {}
    for role in ("train", "validation", "test"):
        groups = sequences_by_speaker_dialog(rows[role])
        seqs[role] = [X[role][g] for g in groups]
        ys[role] = [rows[role][task].to_numpy(np.int64)[g] for g in groups]
        ordered[role] = rows[role].iloc[np.concatenate(groups)] if groups else rows[role]
    return seqs, ys, ordered


def _joined(reads: str, a: Any, b: Any) -> Any:
    """Two roles' inputs (or labels) as one training set."""
    return np.concatenate([a, b]) if reads == "rows" else [*a, *b]


def fit_model(
    classifier: str,
    rows: Mapping[str, pd.DataFrame],
    X: Mapping[str, np.ndarray],
    task: str,
    settings: Mapping[str, Any],
    seed: int,
) -> FittedModel:
    """A model of ``classifier`` on a fold's CFS-selected functionals (from
    :func:`affectflow.fold_tables.functional_sets`). The registry says how its family reads
    them and what the validation speaker is for: one more training speaker (SVM), or early
    stopping ((B)LSTM, which then gets every class id so its outputs cover the task's
    classes)."""
    record = registry.family(registry.classifier(classifier).family)
    inputs, ys, ordered = model_inputs(record.reads, rows, X, task)
    model = new_estimator(classifier, settings, seed)
    name = registry.classifier(classifier).display
    n_features = X["train"].shape[1]
    if record.validation == "training":
        x_fit = _joined(record.reads, inputs["train"], inputs["validation"])
        y_fit = _joined(record.reads, ys["train"], ys["validation"])
        train_ids = [*ordered["train"]["utt_id"], *ordered["validation"]["utt_id"]]
        validation_ids: list[str] = []
        logger.info(f"{name} {task}: {len(train_ids)} training utterances x {n_features} "
                    "features")
        model.fit(x_fit, y_fit)
    else:
        train_ids = list(ordered["train"]["utt_id"])
        validation_ids = list(ordered["validation"]["utt_id"])
        logger.info(f"{name} {task}: {len(inputs['train'])} training / "
                    f"{len(inputs['validation'])} validation inputs, {n_features} features")
        model.fit(inputs["train"], ys["train"], inputs["validation"], ys["validation"],
                  classes=range(labels.n_classes(task)))
    return FittedModel(model, inputs, ordered, train_ids, validation_ids)
