"""Linear SVM trained with SMO, behaving like Weka 3.6's ``weka.classifiers.functions.SMO``.

The paper's static baseline (section 3.3) is Weka's SMO with a polynomial kernel of degree 1
on the CFS-selected functionals. This module re-implements that classifier with Weka's
defaults so that our SVM rows are comparable to the paper's:

- inputs are scaled to [0, 1] with the training minimum and maximum of every attribute
  (Weka's ``Normalize`` filter; a constant attribute maps to 0, test values are not clipped);
- kernel ``K(x, z) = x . z`` (``PolyKernel`` with exponent 1 and ``useLowerOrder`` false, so
  no ``+1`` term); Weka keeps an explicit weight vector for this linear case, and so do we;
- C = 1, tolerance 1e-3, epsilon 1e-12;
- Platt's SMO with Keerthi et al.'s two thresholds (``b_up``/``b_low``, index sets I0..I4,
  "modification 1"), with Weka's example order, working-pair choices, error cache and
  snapping of alphas onto the bounds. With Java's left-to-right dot products this
  reproduced Weka's weights to the 4 decimals Weka prints (checked during development); here
  the dot products are numpy's ``einsum`` loops (another summation order, far faster than a
  Python loop), which can steer SMO onto a slightly different path within the tolerance:
  99.75-100 % of test predictions agree with Weka's (``tests/test_svm.py``). Ties between
  exactly equal cached errors may also pick another, equally valid, working pair;
- no BLAS: SMO's working-pair choices and its stopping test compare cached errors, so a BLAS dot
  product (whose summation order depends on the OpenBLAS kernel) sent SMO down other paths on
  other machines, and the weights of the tiny corpus's fold Ses01F differed by up to 0.7 %
  between the Prescott and Haswell kernels. ``einsum`` adds in an order fixed by numpy, so the
  model is bit-identical under every BLAS kernel and thread count (about 1.5x the time of BLAS
  for these products);
- one binary machine per pair of classes (i < j) trained on the instances of i (target -1) and
  j (target +1), shuffled exactly like Weka's ``Instances.randomize`` with ``java.util.Random``
  seeded by ``seed`` (Weka's ``-W``, default 1) shared across the pairs in order;
- prediction by pairwise votes (output > 0 votes j, otherwise i), ties to the lowest class.

``predict_proba`` returns what Weka's ``distributionForInstance`` returns without ``-M``
(logistic models off, the default): the pairwise votes divided by their sum. It is a coarse
confidence (multiples of ``1 / n_pairs``), not a calibrated probability; its argmax (first
maximum) is the prediction. ``decision_function`` gives the raw pairwise outputs.

:class:`SMOClassifier` is a scikit-learn estimator (``get_params``/``set_params``,
``sklearn.base.clone``); like every model of the workflow it scores with
:meth:`SMOClassifier.class_scores` (see :mod:`affectflow.models.scoring`). The binary SMO solver
itself is in :mod:`affectflow.models.smo`; this module holds Weka's instance shuffling and the
multi-class estimator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from affectflow.io import atomic_path
from affectflow.models.smo import _BinarySMO

_MASK48 = (1 << 48) - 1
_JAVA_MULT = 0x5DEECE66D


class _JavaRandom:
    """``java.util.Random`` (48-bit LCG), enough of it to reproduce ``Instances.randomize``."""

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ _JAVA_MULT) & _MASK48

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * _JAVA_MULT + 0xB) & _MASK48
        value = self._seed >> (48 - bits)
        return value - (1 << 32) if value >= (1 << 31) else value

    def next_int(self, bound: int) -> int:
        if bound & -bound == bound:  # power of two
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            val = bits % bound
            if bits - val + (bound - 1) < (1 << 31):  # Java's int overflow test
                return val


def _weka_randomize(n: int, rng: _JavaRandom) -> np.ndarray:
    """The permutation Weka's ``Instances.randomize(rng)`` applies to ``n`` instances."""
    order = list(range(n))
    for j in range(n - 1, 0, -1):
        k = rng.next_int(j + 1)
        order[j], order[k] = order[k], order[j]
    return np.asarray(order, dtype=np.int64)


#: Constructor parameters in the order model files store them (files stay byte-identical).
_PARAMS: tuple[str, ...] = ("C", "tol", "eps", "seed")


class SMOClassifier(BaseEstimator):
    """Linear SMO support vector machine with Weka 3.6 ``SMO`` defaults (see module docstring).

    Fitted attributes: ``classes_`` (sorted labels), ``min_``/``max_`` (training range per
    attribute), ``pairs_`` (n_pairs x 2 class indices i < j), ``coef_`` (n_pairs x d weights on
    the [0, 1]-scaled inputs), ``intercept_`` (Weka's ``b``; output = ``coef . x - b``).
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-3, eps: float = 1e-12,
                 seed: int = 1) -> None:
        self.C = C
        self.tol = tol
        self.eps = eps
        self.seed = seed

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], seed: int) -> SMOClassifier:
        """The estimator of config block ``models.svm`` and ``models.seed``. Weka's shuffling
        seed is ``seed + 1``: Weka's default ``-W 1`` at the config's default seed 0."""
        return cls(C=settings["C"], seed=seed + 1)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        span = self.max_ - self.min_
        const = span == 0
        out = (X - self.min_) / np.where(const, 1.0, span)
        out[:, const] = 0.0
        return out

    def fit(self, X: np.ndarray, y: np.ndarray, classes: Any = None) -> SMOClassifier:
        """Train one binary machine per class pair on the [0, 1]-scaled training data.

        ``classes`` (sorted, distinct) fixes the label set and column order like the class
        attribute of a Weka ARFF header; a class without training instances never gets a
        vote (Weka's constant machines for a missing class).
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ValueError(f"X must be (n, d) with n = len(y) > 0, got {X.shape}, {y.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        if classes is None:
            self.classes_, y_idx = np.unique(y, return_inverse=True)
        else:
            self.classes_ = np.asarray(classes)
            if len(self.classes_) == 0 or np.any(self.classes_[1:] <= self.classes_[:-1]):
                raise ValueError("classes must be sorted and distinct")
            y_idx = np.searchsorted(self.classes_, y)
            y_idx = np.clip(y_idx, 0, len(self.classes_) - 1)
            if not np.array_equal(self.classes_[y_idx], y):
                raise ValueError(f"y holds labels outside classes {self.classes_.tolist()}")
        self.n_features_in_ = X.shape[1]
        self.min_ = X.min(axis=0)
        self.max_ = X.max(axis=0)
        Xs = self._scale(X)
        rng = _JavaRandom(int(self.seed))
        members = [np.flatnonzero(y_idx == k) for k in range(len(self.classes_))]
        pairs, coefs, intercepts = [], [], []
        for i in range(len(self.classes_)):
            for j in range(i + 1, len(self.classes_)):
                idx = np.concatenate([members[i], members[j]])
                idx = idx[_weka_randomize(len(idx), rng)]
                target = np.where(y_idx[idx] == i, -1.0, 1.0)
                w, b = _BinarySMO(
                    np.ascontiguousarray(Xs[idx]), target, float(self.C), float(self.tol),
                    float(self.eps),
                ).solve()
                pairs.append((i, j))
                coefs.append(w.copy())
                intercepts.append(b)
        self.pairs_ = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.coef_ = np.asarray(coefs, dtype=np.float64).reshape(-1, X.shape[1])
        self.intercept_ = np.asarray(intercepts, dtype=np.float64)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Pairwise outputs ``w . x - b`` (n x n_pairs); > 0 favours ``pairs_[:, 1]``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected (n, {self.n_features_in_}) inputs, got {X.shape}")
        # einsum, not BLAS: the sign of an output near 0 is a vote (see the module docstring)
        return np.einsum("nd,pd->np", self._scale(X), self.coef_) - self.intercept_

    def votes(self, X: np.ndarray) -> np.ndarray:
        """Pairwise vote counts per class (n x n_classes)."""
        out = self.decision_function(X)
        votes = np.zeros((len(out), len(self.classes_)))
        for p, (i, j) in enumerate(self.pairs_):
            pos = out[:, p] > 0
            votes[pos, j] += 1
            votes[~pos, i] += 1
        return votes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Weka's distribution without logistic models: votes / number of pairs.

        With a single class there are no pairs; every row is then ``[1.0]``.
        """
        votes = self.votes(X)
        total = votes.sum(axis=1, keepdims=True)
        if votes.shape[1] == 1:
            return np.ones_like(votes)
        return votes / total

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class with the most votes; ties go to the class listed first (Weka's maxIndex)."""
        return self.classes_[np.argmax(self.votes(X), axis=1)]

    def class_scores(self, X: np.ndarray, n_classes: int) -> np.ndarray:
        """:meth:`predict_proba` on the columns ``0 .. n_classes - 1`` (labels are class ids);
        a class without training instances scores 0. One row per row of ``X``."""
        out = np.zeros((len(X), n_classes), dtype=np.float64)
        out[:, np.asarray(self.classes_, dtype=np.int64)] = self.predict_proba(X)
        return out

    def save(self, path: str | Path) -> None:
        """Write parameters and the fitted model as JSON (floats round-trip exactly)."""
        state = {
            "kind": "SMOClassifier",
            "params": {name: getattr(self, name) for name in _PARAMS},
            "classes": self.classes_.tolist(),
            "min": self.min_.tolist(),
            "max": self.max_.tolist(),
            "pairs": self.pairs_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(state))

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> SMOClassifier:
        """Read a model written by :meth:`save` (``device`` is accepted so that every family
        loads alike; the SVM runs on the CPU)."""
        state = json.loads(Path(path).read_text())
        if state.get("kind") != "SMOClassifier":
            raise ValueError(f"{path}: not an SMOClassifier model")
        model = cls(**state["params"])
        model.classes_ = np.asarray(state["classes"])
        model.min_ = np.asarray(state["min"], dtype=np.float64)
        model.max_ = np.asarray(state["max"], dtype=np.float64)
        model.n_features_in_ = len(model.min_)
        model.pairs_ = np.asarray(state["pairs"], dtype=np.int64).reshape(-1, 2)
        model.coef_ = np.asarray(state["coef"], dtype=np.float64).reshape(
            -1, model.n_features_in_
        )
        model.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
        return model
