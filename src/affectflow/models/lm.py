"""HMM+LM (paper section 3.3): a class bigram "language model" over consecutive utterances.

The paper counts, on each fold's training dialogs, the transitions between the classes of
consecutive utterances, and picks for every test utterance the class that maximises its class
probability times the transition probability from the previous utterance's *recognised* class.

The HMMs give log-likelihoods, not class probabilities. We turn them into posteriors with a
length-normalised softmax, ``p(c | x) = softmax_c(scale * loglik_c / n_frames)``: dividing by the
number of frames makes utterances of different length comparable, and ``scale`` (the effective
number of independent frames) sets how sharp the evidence is against the bigram. ``scale`` is the
one free parameter; :func:`tune_scale` grid-searches it on the validation speaker's dialogs.

All decoders take one dialog at a time: a (T, C) array of class log-probabilities in time order.
The first utterance of a dialog has no predecessor; by default (``first="uniform"``) it is decided
by its evidence alone, as the paper only names transition probabilities; ``first="initial"`` uses
the distribution of dialog-initial classes counted in training instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import log_softmax
from sklearn.base import BaseEstimator

from affectflow.errors import AffectflowError

_FIRST = ("uniform", "initial")
_DEFAULT_GRID = np.concatenate([[0.0], np.geomspace(0.01, 1000.0, 51)])


class BigramLM(BaseEstimator):
    """Class bigram over consecutive utterances of a dialog, with additive smoothing.

    Fitted attributes: ``counts_`` (C, C) transition counts (row = previous class),
    ``initial_counts_`` (C,), ``transmat_`` / ``log_transmat_`` (C, C) and ``initial_`` /
    ``log_initial_`` (C,), all smoothed: ``(count + smoothing) / (row total + C * smoothing)``.
    A row without counts and without smoothing falls back to uniform.
    """

    def __init__(self, n_classes: int, smoothing: float = 1.0) -> None:
        self.n_classes = n_classes
        self.smoothing = smoothing

    def fit(self, label_sequences: Sequence[np.ndarray]) -> BigramLM:
        """Count class transitions within each dialog's label sequence (class indices, in order)."""
        c = self.n_classes
        if c < 1 or self.smoothing < 0:
            raise AffectflowError(
                f"BigramLM: need n_classes >= 1 and smoothing >= 0 (got {c}, {self.smoothing})"
            )
        counts = np.zeros((c, c))
        initial = np.zeros(c)
        for i, seq in enumerate(label_sequences):
            lab = _check_labels(seq, c, f"BigramLM: label sequence {i}")
            if lab.size == 0:
                continue
            initial[lab[0]] += 1
            np.add.at(counts, (lab[:-1], lab[1:]), 1.0)
        self.counts_ = counts
        self.initial_counts_ = initial
        self.transmat_ = _smooth(counts, self.smoothing)
        self.initial_ = _smooth(initial[None], self.smoothing)[0]
        self._set_logs()
        return self

    def _set_logs(self) -> None:
        with np.errstate(divide="ignore"):  # log 0 = -inf: a transition never seen, no smoothing
            self.log_transmat_ = np.log(self.transmat_)
            self.log_initial_ = np.log(self.initial_)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters and counts."""
        return {
            "n_classes": self.n_classes,
            "smoothing": self.smoothing,
            "counts": self.counts_.tolist(),
            "initial_counts": self.initial_counts_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BigramLM:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        lm = cls(int(data["n_classes"]), float(data["smoothing"]))
        lm.counts_ = np.asarray(data["counts"], dtype=np.float64)
        lm.initial_counts_ = np.asarray(data["initial_counts"], dtype=np.float64)
        lm.transmat_ = _smooth(lm.counts_, lm.smoothing)
        lm.initial_ = _smooth(lm.initial_counts_[None], lm.smoothing)[0]
        lm._set_logs()
        return lm


def _smooth(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Row-wise additive smoothing; empty unsmoothed rows become uniform."""
    c = counts.shape[1]
    num = counts + smoothing
    tot = num.sum(axis=1, keepdims=True)
    return np.where(tot > 0, num / np.where(tot > 0, tot, 1.0), 1.0 / c)


def _check_labels(seq: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    lab = np.asarray(seq)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise AffectflowError(f"{what}: expected a 1-D array of class indices, got {lab.dtype}"
                              f" {lab.shape}")
    if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
        raise AffectflowError(f"{what}: class indices must lie in 0..{n_classes - 1}")
    return lab.astype(np.int64)


def loglik_to_logprob(loglik: np.ndarray, n_frames: np.ndarray, scale: float) -> np.ndarray:
    """Class log-probabilities ``log softmax(scale * loglik / n_frames)``, shape (n, C)."""
    ll = np.asarray(loglik, dtype=np.float64)
    nf = np.asarray(n_frames, dtype=np.float64)
    if ll.ndim != 2 or nf.shape != (ll.shape[0],) or np.any(nf <= 0):
        raise AffectflowError(
            f"loglik_to_logprob: loglik {ll.shape} needs one positive frame count per row "
            f"(got {nf.shape})"
        )
    if not np.all(np.isfinite(ll)):
        raise AffectflowError("loglik_to_logprob: non-finite log-likelihoods")
    return log_softmax(scale * ll / nf[:, None], axis=1)


def _first_prior(lm: BigramLM, first: str) -> np.ndarray:
    if first not in _FIRST:
        raise AffectflowError(f"HMM+LM: first must be one of {_FIRST} (got {first!r})")
    if first == "initial":
        return lm.log_initial_
    return np.zeros(lm.n_classes)


def _check_logprob(logprob: np.ndarray, lm: BigramLM) -> np.ndarray:
    lp = np.asarray(logprob, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[1] != lm.n_classes:
        raise AffectflowError(
            f"HMM+LM: expected a (T, {lm.n_classes}) array of class log-probabilities, got "
            f"{lp.shape}"
        )
    return lp


def decode_greedy(logprob: np.ndarray, lm: BigramLM, first: str = "uniform") -> np.ndarray:
    """The paper's decoding: left to right, class t maximises
    ``log p(c | x_t) + log P(c | recognised class of t - 1)``."""
    lp = _check_logprob(logprob, lm)
    out = np.empty(lp.shape[0], dtype=np.int64)
    prior = _first_prior(lm, first)
    for t in range(lp.shape[0]):
        out[t] = int(np.argmax(lp[t] + prior))
        prior = lm.log_transmat_[out[t]]
    return out


def decode_viterbi(logprob: np.ndarray, lm: BigramLM, first: str = "uniform") -> np.ndarray:
    """Most probable class sequence of the whole dialog under evidence x bigram (Viterbi)."""
    lp = _check_logprob(logprob, lm)
    n = lp.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    score = lp[0] + _first_prior(lm, first)
    back = np.empty((n, lm.n_classes), dtype=np.int64)
    for t in range(1, n):
        cand = score[:, None] + lm.log_transmat_  # (previous, current)
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], np.arange(lm.n_classes)] + lp[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _score(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, metric: str) -> float:
    """Accuracy, or unweighted average recall over the classes present in ``y_true``."""
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    recalls = [np.mean(y_pred[y_true == c] == c) for c in range(n_classes) if np.any(y_true == c)]
    return float(np.mean(recalls))


def tune_scale(
    logliks: Sequence[np.ndarray],
    n_frames: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    lm: BigramLM,
    grid: Sequence[float] | None = None,
    metric: str = "uar",
    decoder: str = "greedy",
    first: str = "uniform",
) -> tuple[float, np.ndarray]:
    """Grid-search ``scale`` of :func:`loglik_to_logprob` on validation dialogs.

    Per dialog: HMM log-likelihoods (T, C), frame counts (T,) and true class indices (T,). Every
    grid value decodes all dialogs; the value maximising ``metric`` ("uar" or "accuracy") over
    all their utterances wins. Among tied values the middle one (in grid order) is taken, so a
    plateau does not push the choice to an extreme of the grid. Default grid: 0 and 51 values
    from 0.01 to 1000 (log-spaced). Returns the chosen scale and the metric of every grid value.
    """
    if metric not in ("uar", "accuracy"):
        raise AffectflowError(f"tune_scale: metric must be 'uar' or 'accuracy' (got {metric!r})")
    decode = {"greedy": decode_greedy, "viterbi": decode_viterbi}.get(decoder)
    if decode is None:
        raise AffectflowError(f"tune_scale: decoder must be 'greedy' or 'viterbi' ({decoder!r})")
    if not (len(logliks) == len(n_frames) == len(labels)) or len(logliks) == 0:
        raise AffectflowError("tune_scale: need the same (non-zero) number of dialogs in each list")
    values = np.asarray(_DEFAULT_GRID if grid is None else grid, dtype=np.float64)
    truth = np.concatenate(
        [_check_labels(y, lm.n_classes, f"tune_scale: labels of dialog {i}")
         for i, y in enumerate(labels)]
    )
    scores = np.empty(values.size)
    for j, scale in enumerate(values):
        pred = np.concatenate(
            [decode(loglik_to_logprob(ll, nf, float(scale)), lm, first)
             for ll, nf in zip(logliks, n_frames, strict=True)]
        )
        scores[j] = _score(truth, pred, lm.n_classes, metric)
    tied = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(values[tied[tied.size // 2]]), scores


@dataclass
class FoldDecoding:
    """What :func:`decode_fold_scores` found: the bigram of all training speakers, the tuned
    scale, the test rows in decoding order with their posteriors and decoded path, and the
    utterances behind the bigram (``train_ids``) and behind the tuning step
    (``tuning_train_ids``)."""

    lm: BigramLM
    scale: float
    test: pd.DataFrame
    proba: np.ndarray
    y_pred: np.ndarray
    train_ids: list[str]
    tuning_train_ids: list[str]
    n_tuning_sequences: int
    n_training_sequences: int


def decode_fold_scores(
    scores: pd.DataFrame,
    task: str,
    n_classes: int,
    settings: Mapping[str, Any],
    tuning_hmm_ids: Sequence[str] = (),
    source: str = "scores",
) -> FoldDecoding:
    """The paper's HMM+LM on a fold's HMM scores (``scores.parquet`` of the v+f HMM job: one
    row per utterance with ``split``, the task's label, ``n_frames``, ``loglik_<c>`` and the
    validation speaker's out-of-sample ``tune_loglik_<c>``).

    A class bigram over consecutive utterances of each speaker's dialog sequence; the softmax
    scale tuned on the validation speaker with its out-of-sample scores (HMMs fitted without
    it) and a bigram counted without it, since scored by models that had seen it, the
    validation speaker would look better matched than a new speaker and the tuned scale would
    over-trust the acoustic evidence; then the test speaker decoded with the bigram of all
    training speakers, as the paper's. ``tuning_hmm_ids``: the utterances the tuning HMMs were
    fitted on (from the scores' metadata); ``source`` names the scores in errors."""
    from affectflow.fold_tables import sequences_by_speaker_dialog
    from affectflow.models.scoring import softmax

    cols = [f"loglik_{c}" for c in range(n_classes)]

    def sequences(role_rows: pd.DataFrame) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
        groups = sequences_by_speaker_dialog(role_rows)
        frames = [role_rows.reset_index(drop=True).iloc[g] for g in groups]
        return frames, [f[task].to_numpy(np.int64) for f in frames]

    tune_cols = [f"tune_loglik_{c}" for c in range(n_classes)]
    valid = scores[scores["split"] == "validation"]
    if not set(tune_cols) <= set(scores.columns) or valid[tune_cols].isna().any().any():
        raise ValueError(f"{source}: no out-of-sample scores of the validation speaker "
                         f"(tune_loglik_*); rerun the v+f HMM job with {task} as a tuning task")
    tune_rows = scores[scores["split"] == "train"]
    _, tune_labels = sequences(tune_rows)
    tune_lm = BigramLM(n_classes, smoothing=settings["smoothing"]).fit(tune_labels)
    valid_frames, valid_labels = sequences(valid)
    scale, _ = tune_scale(
        [f[tune_cols].to_numpy() for f in valid_frames],
        [f["n_frames"].to_numpy() for f in valid_frames],
        valid_labels,
        tune_lm,
        decoder=settings["decoding"],
    )
    train_frames, train_labels = sequences(scores[scores["split"] != "test"])
    lm = BigramLM(n_classes, smoothing=settings["smoothing"]).fit(train_labels)
    decode = decode_viterbi if settings["decoding"] == "viterbi" else decode_greedy
    test_frames, _ = sequences(scores[scores["split"] == "test"])
    rows, probas, paths = [], [], []
    for f in test_frames:
        logprob = loglik_to_logprob(f[cols].to_numpy(), f["n_frames"].to_numpy(), scale)
        path = decode(logprob, lm)
        # Posterior of each utterance given the recognised class before it (uniform first).
        prior = np.vstack([np.zeros(n_classes), lm.log_transmat_[path[:-1]]])
        rows.append(f)
        probas.append(softmax(logprob + prior))
        paths.append(path)
    return FoldDecoding(
        lm=lm,
        scale=scale,
        test=pd.concat(rows, ignore_index=True),
        proba=np.vstack(probas),
        y_pred=np.concatenate(paths),
        train_ids=list(scores.loc[scores["split"] != "test", "utt_id"]),
        tuning_train_ids=sorted(set(tuning_hmm_ids) | set(tune_rows["utt_id"].astype(str))),
        n_tuning_sequences=len(tune_labels),
        n_training_sequences=len(train_labels),
    )
