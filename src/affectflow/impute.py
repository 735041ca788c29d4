"""Missing functionals, filled per fold from its training rows only.

A functional is missing (NaN in ``functionals.parquet``) when its channel has no valid frame in
the utterance: a face marker lost for the whole utterance, or an utterance without a voiced
frame for the pitch channels (:mod:`affectflow.features.functionals`). The classifiers need a
number there. The statistic is the **mean of the column over the fold's training rows** (every
non-test speaker, the validation speaker included, NaN skipped): the value that moves an
utterance least in the SVM's [0, 1] scaling and the (B)LSTM's z-scaling, and one that never
looks at the test speaker. A column without any training value (possible only on a tiny
corpus) is filled with 0 and reported.

:class:`MeanImputer` is the one place this happens: the CFS, SVM and (B)LSTM jobs of a fold
(:class:`affectflow.fold_tables.FoldTables`), the final models, and ``affectflow predict``, which
reads the final pseudo-fold's means from the bundle (``imputer.json``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Fill value of a column that has no value in any training row.
NO_TRAINING_VALUE = 0.0


@dataclass(frozen=True)
class MeanImputer:
    """Per-column training means; ``columns`` names the columns of the matrices it fills."""

    columns: tuple[str, ...]
    means: np.ndarray  # (columns,) float64; NO_TRAINING_VALUE where training had no value
    n_train: int = 0  # training rows the means come from
    no_training_value: tuple[str, ...] = ()  # columns missing in every training row

    @classmethod
    def fit(cls, X_train: np.ndarray, columns: Sequence[str]) -> MeanImputer:
        """Means of the columns of ``X_train`` (training rows only), NaN skipped.

        numpy's own reduction (pairwise summation, no BLAS), so the means do not depend on the
        BLAS kernel or thread count."""
        X = np.asarray(X_train, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(columns):
            raise ValueError(f"X_train must be (rows x {len(columns)}), got {X.shape}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, handled
            means = np.nanmean(X, axis=0) if len(X) else np.full(X.shape[1], np.nan)
        empty = np.isnan(means)
        means[empty] = NO_TRAINING_VALUE
        return cls(
            columns=tuple(map(str, columns)),
            means=means,
            n_train=len(X),
            no_training_value=tuple(c for c, e in zip(columns, empty, strict=True) if e),
        )

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        """A float64 copy of ``X`` (columns as :attr:`columns`) with every NaN replaced by its
        column's training mean, and the number of cells filled."""
        out = np.array(X, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != len(self.columns):
            raise ValueError(f"X must be (rows x {len(self.columns)}), got {out.shape}")
        missing = np.isnan(out)
        rows, cols = np.nonzero(missing)
        out[rows, cols] = self.means[cols]
        return out, int(missing.sum())

    def subset(self, columns: Sequence[str]) -> MeanImputer:
        """The imputer of some of the columns, in the given order (e.g. a CFS selection)."""
        pos = {c: i for i, c in enumerate(self.columns)}
        unknown = [c for c in columns if c not in pos]
        if unknown:
            raise KeyError(f"no training mean for {unknown[:3]}")
        idx = [pos[c] for c in columns]
        return MeanImputer(
            columns=tuple(columns),
            means=self.means[idx],
            n_train=self.n_train,
            no_training_value=tuple(c for c in columns if c in set(self.no_training_value)),
        )

    def to_json(self) -> dict[str, Any]:
        """``{"statistic", "n_train", "means": {column: mean}, "no_training_value"}``."""
        return {
            "statistic": "mean over the training rows (NaN skipped)",
            "n_train": self.n_train,
            "means": {c: float(m) for c, m in zip(self.columns, self.means, strict=True)},
            "no_training_value": list(self.no_training_value),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> MeanImputer:
        """Inverse of :meth:`to_json`."""
        means = obj["means"]
        return cls(
            columns=tuple(means),
            means=np.array([float(means[c]) for c in means], dtype=np.float64),
            n_train=int(obj.get("n_train", 0)),
            no_training_value=tuple(obj.get("no_training_value", ())),
        )
