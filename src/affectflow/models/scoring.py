"""One way to make, load and score a model of any family, from its registry record.

Every estimator is a scikit-learn ``BaseEstimator`` with three more members: a classmethod
``from_config(settings, seed, **classifier.estimator_params)`` (the estimator of the family's config
block), ``load(path, device=None)`` and ``class_scores(inputs, n_classes)``: one row of class
scores per utterance, columns ``0 .. n_classes - 1``. What ``inputs`` is comes from the
registry (:attr:`affectflow.registry.Family.reads`): a matrix with one row per utterance
(``rows``) or a list of per-conversation sequences (``sequences``, scored rows stacked in
sequence order). The workflow and ``affectflow predict`` call these functions and never branch
on a family's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectflow import registry


def estimator_class(family: str) -> type:
    """The estimator class of ``family`` (imported on first use: torch only for the RNNs)."""
    module, _, name = registry.family(family).estimator.partition(":")
    return getattr(importlib.import_module(module), name)


def new_estimator(classifier: str, settings: Mapping[str, Any], seed: int) -> Any:
    """An unfitted estimator of ``classifier`` from its family's config block, the models'
    seed and the arguments its family and the classifier fix (the registry's)."""
    record = registry.classifier(classifier)
    return estimator_class(record.family).from_config(settings, seed, **record.estimator_params)


def load_model(family: str, path: str | Path, device: str | None = None) -> Any:
    """A model of ``family`` written by its ``save`` (``device``: where a network runs)."""
    return estimator_class(family).load(path, device=device)


def class_scores(model: Any, inputs: Any, n_classes: int) -> np.ndarray:
    """Scores of every class (``n_utterances x n_classes``) for the family's ``inputs``."""
    return model.class_scores(inputs, n_classes)


def conversations(labels: Sequence[Any]) -> list[np.ndarray]:
    """Row positions of each conversation of ``labels`` (one conversation id per row), in
    order of first appearance, each in row order."""
    values = np.asarray(labels, dtype=object)
    seen = dict.fromkeys(values.tolist())
    return [np.flatnonzero(values == c) for c in seen]


def score_utterances(
    model: Any, family: str, X: np.ndarray, conversation: Sequence[Any], n_classes: int
) -> np.ndarray:
    """Class scores of the rows of ``X`` (one utterance each, in order), for a model of any
    family: a family that reads sequences sees each conversation (rows with one
    ``conversation`` id, in row order) as one sequence; the scores come back in row order."""
    if registry.family(family).reads == "rows":
        return class_scores(model, X, n_classes)
    groups = conversations(conversation)
    out = np.empty((len(X), n_classes), dtype=np.float64)
    if groups:
        out[np.concatenate(groups)] = class_scores(model, [X[g] for g in groups], n_classes)
    return out


def full_columns(
    values: np.ndarray, classes: np.ndarray, n_classes: int, fill: float = 0.0
) -> np.ndarray:
    """Scores of the classes a model saw in training, spread onto all ``n_classes`` columns
    (a class absent from the training fold gets ``fill``)."""
    out = np.full((len(values), n_classes), fill, dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = values
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a score matrix (max subtracted first, so large scores stay finite)."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
