"""Initial parameters of the HMMs in :mod:`affectflow.models.hmm`: ergodic transitions and
emissions from seeded k-means or a uniform time segmentation.

Separate from Baum-Welch itself: it runs once per model, before the first E step, and only
decides where EM starts.
"""

from __future__ import annotations

import numpy as np

from affectflow.numerics import kmeans

_SELF_LOOP = 0.9  # initial self-transition probability (off-diagonal mass shared equally)
_KMEANS_SAMPLE = 10000  # frames (seeded subsample) used to initialise the emissions


def _ergodic_transitions(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform start and a fully connected transition matrix with self-loop ``_SELF_LOOP``."""
    if k == 1:
        return np.ones(1), np.ones((1, 1))
    trans = np.full((k, k), (1.0 - _SELF_LOOP) / (k - 1))
    np.fill_diagonal(trans, _SELF_LOOP)
    return np.full(k, 1.0 / k), trans


def _kmeans_labels(frames: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Seeded k-means cluster index of every frame.

    :func:`affectflow.numerics.kmeans` rather than scikit-learn's: its explicit differences and
    fixed-order sums make the initial segmentation (a discrete choice) bit-identical on every
    BLAS kernel and thread count.
    """
    return kmeans(frames, k, n_init=1, seed=seed).labels


def _mixture_from_frames(
    frames: np.ndarray, m: int, floor: np.ndarray, fallback: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator, seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, floored variances and weights of an m-component state from its frames."""
    g_mean, g_var = fallback
    d = floor.size
    if frames.shape[0] < max(2 * m, 2):  # too few frames: perturbed global statistics
        means = g_mean + 0.1 * np.sqrt(g_var) * rng.standard_normal((m, d))
        return means, np.tile(np.maximum(g_var, floor), (m, 1)), np.full(m, 1.0 / m)
    labels = np.zeros(frames.shape[0], dtype=np.int64) if m == 1 else _kmeans_labels(
        frames, m, seed
    )
    means = np.empty((m, d))
    covars = np.empty((m, d))
    weights = np.empty(m)
    s_mean, s_var = frames.mean(axis=0), frames.var(axis=0)
    for j in range(m):
        part = frames[labels == j]
        weights[j] = max(part.shape[0], 1)
        means[j] = part.mean(axis=0) if part.shape[0] else s_mean
        covars[j] = part.var(axis=0) if part.shape[0] >= 2 else s_var
    return means, np.maximum(covars, floor), weights / weights.sum()


def _initial_params(
    X: np.ndarray, lengths: np.ndarray, k: int, m: int, init: str, floor: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Initial parameters: k-means ('kmeans') or uniform time segmentation ('segment')."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    if init == "segment":
        t = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        labels_all = (t * k) // np.repeat(lengths, lengths)
    idx = np.sort(rng.choice(n, size=_KMEANS_SAMPLE, replace=False)) if n > _KMEANS_SAMPLE else (
        np.arange(n)
    )
    sample = X[idx].astype(np.float64)
    labels = labels_all[idx] if init == "segment" else _kmeans_labels(sample, k, seed)
    fallback = (sample.mean(axis=0), sample.var(axis=0))
    parts = [
        _mixture_from_frames(sample[labels == s], m, floor, fallback, rng, seed + s)
        for s in range(k)
    ]
    startprob, transmat = _ergodic_transitions(k)
    return {
        "startprob": startprob,
        "transmat": transmat,
        "means": np.stack([p[0] for p in parts]),
        "covars": np.stack([p[1] for p in parts]),
        "weights": np.stack([p[2] for p in parts]),
    }
