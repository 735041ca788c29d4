"""Per-class ergodic Gaussian HMMs (paper section 3.3), trained by batched Baum-Welch.

The paper trains one fully connected 3-state HMM per class with HTK and recognises the class of
highest likelihood. hmmlearn runs the forward-backward recursion one sequence at a time, which is
too slow at IEMOCAP scale (~0.8 M frames per fold, 9 model groups). Here all sequences of a model
are packed time-major, longest first (rows of one time step are contiguous and the sequences still
running are a prefix of the previous step's), so every time step is a single batched operation over
all sequences, and the emission densities of all frames are computed dimension by dimension over
blocks of frames. The recursion is the scaled one in probability space (float64); start and
transition probabilities are floored so that no scale factor can become zero. hmmlearn stays the
reference: ``tests/test_hmm.py`` checks that both reach the same log-likelihood from the same
parameters.

No BLAS: every sum runs in an order fixed by this code (numpy element-wise operations, numpy
reductions and ``np.einsum``, which never calls BLAS), so a model and its scores are
bit-identical under every BLAS kernel and thread count. The earlier matrix products made the
number of Baum-Welch iterations (a convergence test) and the scores depend on the kernel; worse,
the emissions came from the expanded form ``x^2/v - 2 x m/v + m^2/v`` summed in float32, whose
cancellation (face coordinates in mm, dimensions with floored variances) put errors of whole
nats into the log-likelihoods: the tiny corpus's fold Ses01F gave HMM log-likelihoods differing
by up to 148 nats between the Prescott and Haswell kernels (88 between 1 and 2 threads), and
``tests/test_hmm.py`` measured errors of 700 nats on offset float32 frames. Emissions are now
``(x - m)^2 / v`` from explicit differences in float64 (measured at 340k frames x 118 dims:
fitting no slower than with the product, scoring about 1.3x its time).
The transcendental functions (``exp``, ``log``) are numpy's, which may differ in the last bit
between CPU families (SIMD code paths), not between BLAS kernels or thread counts.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from affectflow.errors import AffectflowError
from affectflow.io import atomic_path
from affectflow.numerics import kmeans

_CHUNK = 16384  # frames per block in the emission and statistics passes (bounds the memory)
_MAX_SCORE_FRAMES = 1 << 17  # frames scored per batch in HMMClassifier.loglik
_PROB_FLOOR = 1e-20  # start/transition floor: every forward scale factor stays > 0
_MIN_VAR = 1e-10  # absolute floor under the relative one (dimensions constant in all data)
_MIN_OCC = 2.0  # states/components with fewer expected frames keep their previous parameters
_WEIGHT_FLOOR = 1e-5  # mixture weight floor (HTK's MINMIX)
_SELF_LOOP = 0.9  # initial self-transition probability (off-diagonal mass shared equally)
_KMEANS_SAMPLE = 10000  # frames (seeded subsample) used to initialise the emissions
_LOG_2PI = float(np.log(2.0 * np.pi))
_INITS = ("kmeans", "segment")


# ---------------------------------------------------------------------------------------------
# Input handling and packing


def _as_frames(seqs: Sequence[np.ndarray], n_features: int | None = None) -> tuple[
    np.ndarray, np.ndarray
]:
    """Validate ``seqs`` (frames x dims each) and return their concatenation and lengths."""
    if len(seqs) == 0:
        raise AffectflowError("HMM: no sequences given")
    arrays = [np.asarray(s) for s in seqs]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[0] == 0:
            raise AffectflowError(
                f"HMM: sequence {i} has shape {a.shape}; expected (frames >= 1, dims)"
            )
        if not np.issubdtype(a.dtype, np.floating):
            raise AffectflowError(f"HMM: sequence {i} has dtype {a.dtype}; expected floats")
    dims = {a.shape[1] for a in arrays}
    if len(dims) != 1:
        raise AffectflowError(f"HMM: sequences have different dimensions {sorted(dims)}")
    d = dims.pop()
    if n_features is not None and d != n_features:
        raise AffectflowError(f"HMM: sequences have {d} dims; the model was fitted on {n_features}")
    dtype = np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64
    X = np.concatenate(arrays, axis=0).astype(dtype, copy=False)
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        seq = int(np.searchsorted(np.cumsum(lengths), row, side="right"))
        frame = row - int(lengths[:seq].sum())
        raise AffectflowError(
            f"HMM: sequence {seq} frame {frame} contains NaN or inf; impute or drop it first"
        )
    return X, lengths


def _frame_var(X: np.ndarray) -> np.ndarray:
    """Per-dimension variance of all frames (float64, computed block-wise)."""
    n, d = X.shape
    s1 = np.zeros(d)
    s2 = np.zeros(d)
    shift = X[0].astype(np.float64)  # shifted sums: no cancellation for offset data
    for lo in range(0, n, _CHUNK):
        xc = X[lo : lo + _CHUNK].astype(np.float64) - shift
        s1 += xc.sum(axis=0)
        s2 += (xc * xc).sum(axis=0)
    mean = s1 / n
    return np.maximum(s2 / n - mean * mean, 0.0)


@dataclass(frozen=True)
class _Packing:
    """Time-major layout of variable-length sequences, longest first.

    Packed rows ``offsets[t]:offsets[t + 1]`` hold time step t of the ``batch[t]`` sequences that
    are that long, in rank order (rank 0 = longest), so step t+1 is a prefix of step t.
    """

    starts: np.ndarray  # (n,) first concatenated row of each sequence (caller's order)
    offsets: np.ndarray  # (T + 1,) first packed row of each time step
    batch: np.ndarray  # (T,) number of sequences running at each step
    src: np.ndarray  # (N,) concatenated row held by each packed row
    pos: np.ndarray  # (N,) packed row of each concatenated row
    prev: np.ndarray  # (N - n,) packed row at t - 1 of each packed row at t >= 1


def _pack(lengths: np.ndarray) -> _Packing:
    """Build the packed layout of sequences with the given lengths (all >= 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    n = lengths.size
    order = np.argsort(-lengths, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    t_max = int(lengths.max())
    batch = n - np.cumsum(np.bincount(lengths, minlength=t_max + 1))[:t_max]
    offsets = np.zeros(t_max + 1, dtype=np.int64)
    np.cumsum(batch, out=offsets[1:])
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    total = int(offsets[-1])
    t = np.arange(total) - np.repeat(starts, lengths)
    pos = offsets[t] + np.repeat(rank, lengths)
    src = np.empty(total, dtype=np.int64)
    src[pos] = np.arange(total)
    prev = np.arange(offsets[1], total) - np.repeat(batch[:-1], batch[1:])
    return _Packing(starts, offsets, batch, src, pos, prev)


# ---------------------------------------------------------------------------------------------
# Emissions


def _packed_frames(X: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Frames ``X[order]`` transposed, ``(D, N)`` in the input dtype (float32 at scale).

    ``order`` puts the frames into packed order once, so no iteration has to permute per-frame
    arrays; one row per dimension makes the dimension-by-dimension passes contiguous.
    """
    n, d = order.size, X.shape[1]
    xt = np.empty((d, n), dtype=X.dtype)
    for lo in range(0, n, _CHUNK):
        xt[:, lo : lo + _CHUNK] = np.take(X, order[lo : lo + _CHUNK], axis=0).T
    return xt




def _log_gauss(xt: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """Log densities (N, C) of all frames ``xt`` (D, N) under C diagonal Gaussians.

    ``sum_j (x_j - m_cj)^2 / v_cj`` from explicit differences in float64, dimensions added in
    order, per block of frames: no cancellation and no BLAS (see the module docstring).
    """
    d, n = xt.shape
    prec = 1.0 / covars
    const = -0.5 * (d * _LOG_2PI + np.log(covars).sum(axis=1))
    out = np.empty((n, means.shape[0]))
    for lo in range(0, n, _CHUNK):
        block = xt[:, lo : lo + _CHUNK]
        acc = np.zeros((means.shape[0], block.shape[1]))
        for j in range(d):
            diff = block[j][None, :] - means[:, j, None]  # float64
            diff *= diff
            diff *= prec[:, j, None]
            acc += diff
        out[lo : lo + _CHUNK] = (const[:, None] - 0.5 * acc).T
    return out


def _state_loglik(
    logn: np.ndarray, log_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mixture log densities per state from component log densities.

    ``logn`` (N, S, M) and ``log_weights`` (S, M) give (N, S) state log densities and the (N, S, M)
    component responsibilities (``None`` when M == 1: the state posterior is the component's).
    """
    if logn.shape[2] == 1:
        return logn[:, :, 0] + log_weights[:, 0], None
    joint = logn + log_weights
    top = joint.max(axis=2, keepdims=True)
    expd = np.exp(joint - top)
    tot = expd.sum(axis=2, keepdims=True)
    return (np.log(tot) + top)[:, :, 0], expd / tot


def _accumulate(xt: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroth, first and second order statistics of the frames ``xt`` (D, N) weighted by
    ``post`` (N, C), in float64 (``np.einsum``: no BLAS), block by block in order."""
    d, n = xt.shape
    s1 = np.zeros((post.shape[1], d))
    s2 = np.zeros((post.shape[1], d))
    for lo in range(0, n, _CHUNK):
        block = xt[:, lo : lo + _CHUNK].astype(np.float64)
        weights = np.ascontiguousarray(post[lo : lo + _CHUNK].T)
        s1 += np.einsum("cn,jn->cj", weights, block)
        block *= block
        s2 += np.einsum("cn,jn->cj", weights, block)
    return post.sum(axis=0), s1, s2


# ---------------------------------------------------------------------------------------------
# Batched forward-backward over the packed layout; G models share the layout (axis 0).
# Reductions over the K states and products with the K x K transition matrices are written out
# state by state: numpy's reductions along a short last axis are several times slower, and
# matmul would go through BLAS (order of the sums set by the kernel).


def _lastsum(a: np.ndarray) -> np.ndarray:
    """Sum over the last (short) axis, added in index order."""
    if a.shape[-1] == 1:
        return a[..., 0].copy()
    out = np.add(a[..., 0], a[..., 1])
    for j in range(2, a.shape[-1]):
        out += a[..., j]
    return out


def _times(a: np.ndarray, trans: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ trans`` for ``a`` (G, h, K) and ``trans`` (G, K, K): ``np.einsum`` per model
    (numpy's own loop, never BLAS; the fastest such form measured for these shapes)."""
    if out is None:
        out = np.empty(a.shape)
    for g in range(a.shape[0]):
        np.einsum("hi,ij->hj", a[g], trans[g], out=out[g])
    return out


def _lastmax(a: np.ndarray) -> np.ndarray:
    """Maximum over the last (short) axis."""
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        np.maximum(out, a[..., j], out=out)
    return out


def _forward(
    logb: np.ndarray, pk: _Packing, startprob: np.ndarray, transmat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward pass of G models over all packed sequences at once.

    ``logb`` (G, N, K) packed state log densities, ``startprob`` (G, K), ``transmat`` (G, K, K).
    Returns the scaled densities b, normalised forward variables alpha, scale factors c and the
    per-row log normaliser whose sum over a sequence's rows is its log-likelihood.
    """
    top = _lastmax(logb)
    b = np.exp(logb - top[:, :, None])
    alpha = np.empty_like(b)
    c = np.empty(b.shape[:2])
    off = pk.offsets
    n = int(pk.batch[0])
    a = startprob[:, None, :] * b[:, :n]
    c[:, :n] = _lastsum(a)
    np.divide(a, c[:, :n, None], out=alpha[:, :n])
    for t in range(1, pk.batch.size):
        lo, hi, p = off[t], off[t + 1], off[t - 1]
        a = _times(alpha[:, p : p + hi - lo], transmat)
        a *= b[:, lo:hi]
        s = _lastsum(a)
        c[:, lo:hi] = s
        np.divide(a, s[:, :, None], out=alpha[:, lo:hi])
    return b, alpha, c, np.log(c) + top


def _backward(
    b: np.ndarray, c: np.ndarray, pk: _Packing, transmat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled backward pass; also returns w = b * beta / c of every row (used for the xi sums)."""
    beta = np.ones_like(b)
    w = np.empty_like(b)
    off = pk.offsets
    trans_t = transmat.transpose(0, 2, 1)
    for t in range(pk.batch.size - 1, 0, -1):
        lo, hi, p = off[t], off[t + 1], off[t - 1]
        wt = w[:, lo:hi]
        np.multiply(b[:, lo:hi], beta[:, lo:hi], out=wt)
        wt /= c[:, lo:hi, None]
        _times(wt, trans_t, out=beta[:, p : p + hi - lo])
    return beta, w


def _seq_sums(rowlog: np.ndarray, pk: _Packing) -> np.ndarray:
    """Sum packed per-row values (G, N) over each sequence: (n_seqs, G) in the caller's order."""
    return np.add.reduceat(np.take(rowlog, pk.pos, axis=1), pk.starts, axis=1).T


def _estep(
    logb: np.ndarray, pk: _Packing, startprob: np.ndarray, transmat: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Total log-likelihood, state posteriors (packed, N x K), start and xi sums of one model."""
    b, alpha, c, rowlog = _forward(logb[None], pk, startprob[None], transmat[None])
    beta, w = _backward(b, c, pk, transmat[None])
    gamma = alpha[0] * beta[0]
    gamma /= _lastsum(gamma)[:, None]
    start = gamma[: pk.batch[0]].sum(axis=0)
    pairs = np.einsum("nk,nl->kl", np.take(alpha[0], pk.prev, axis=0), w[0][pk.offsets[1] :])
    xi = transmat * pairs
    return float(rowlog.sum()), gamma, start, xi


# ---------------------------------------------------------------------------------------------
# Initialisation


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


def _normalise(p: np.ndarray) -> np.ndarray:
    """Floor at ``_PROB_FLOOR`` and normalise along the last axis."""
    p = np.maximum(p, _PROB_FLOOR)
    return p / p.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Estimators


class GaussianHMM(BaseEstimator):
    """Fully connected HMM with diagonal Gaussian (mixture) emissions, trained by Baum-Welch.

    Variances are floored at ``var_floor`` times the global variance of each dimension (HTK's
    ``-f`` convention; the reference variance is the fitting data's unless ``ref_var`` is given).
    Training stops after ``n_iter`` iterations or when the total log-likelihood per frame improves
    by less than ``tol``. A state or mixture component with fewer than 2 expected frames keeps its
    previous parameters instead of collapsing onto a few frames.

    Fitted attributes: ``startprob_`` (K,), ``transmat_`` (K, K), ``means_`` and ``covars_``
    (K, M, D), ``weights_`` (K, M), ``var_floor_`` (D,), ``history_`` (total log-likelihood of the
    parameters entering each iteration, as hmmlearn's ``monitor_.history``), ``n_iter_``,
    ``converged_``.
    """

    def __init__(
        self,
        n_states: int = 3,
        n_mix: int = 1,
        n_iter: int = 20,
        tol: float = 1e-3,
        var_floor: float = 1e-3,
        init: str = "kmeans",
        seed: int = 0,
    ) -> None:
        self.n_states = n_states
        self.n_mix = n_mix
        self.n_iter = n_iter
        self.tol = tol
        self.var_floor = var_floor
        self.init = init
        self.seed = seed

    def _check_hyper(self) -> None:
        if self.n_states < 1 or self.n_mix < 1 or self.n_iter < 0:
            raise AffectflowError(
                f"HMM: n_states, n_mix must be >= 1 and n_iter >= 0 (got {self.n_states}, "
                f"{self.n_mix}, {self.n_iter})"
            )
        if self.var_floor < 0:
            raise AffectflowError(f"HMM: var_floor must be >= 0 (got {self.var_floor})")
        if self.init not in _INITS:
            raise AffectflowError(f"HMM: init must be one of {_INITS} (got {self.init!r})")

    def fit(
        self,
        seqs: Sequence[np.ndarray],
        ref_var: np.ndarray | None = None,
        init_params: Mapping[str, np.ndarray] | None = None,
    ) -> GaussianHMM:
        """Train on ``seqs`` (one frames x dims array per utterance).

        ``ref_var``: variance the floor is relative to (default: of ``seqs``). ``init_params``:
        explicit initial ``startprob``, ``transmat``, ``means``, ``covars`` (and ``weights``); the
        means/covars may be (K, D) when ``n_mix == 1``. Otherwise ``init`` decides.
        """
        self._check_hyper()
        X, lengths = _as_frames(seqs)
        n, d = X.shape
        k, m = self.n_states, self.n_mix
        if n < k * m:
            raise AffectflowError(
                f"HMM: {n} frames cannot train {k} states x {m} Gaussians; need at least {k * m}"
            )
        ref = _frame_var(X) if ref_var is None else np.asarray(ref_var, dtype=np.float64)
        if ref.shape != (d,):
            raise AffectflowError(f"HMM: ref_var has shape {ref.shape}; expected ({d},)")
        floor = np.maximum(self.var_floor * ref, _MIN_VAR)
        if init_params is None:
            params = _initial_params(X, lengths, k, m, self.init, floor, self.seed)
        else:
            params = self._given_params(init_params, d)
        pk = _pack(lengths)
        xt = _packed_frames(X, pk.src)  # packed order from here on
        del X
        history: list[float] = []
        converged = False
        prev = params
        for it in range(self.n_iter):
            logn = _log_gauss(xt, params["means"].reshape(-1, d), params["covars"].reshape(-1, d))
            logb, resp = _state_loglik(logn.reshape(n, k, m), np.log(params["weights"]))
            total, gamma, start, xi = _estep(logb, pk, params["startprob"], params["transmat"])
            if not np.isfinite(total):
                if it == 0:
                    raise AffectflowError(
                        "HMM: the initial parameters give a non-finite log-likelihood "
                        "(degenerate model; check the features' scale)"
                    )
                warnings.warn(
                    f"HMM: non-finite log-likelihood at iteration {it}; keeping the parameters "
                    "of the previous iteration",
                    RuntimeWarning,
                    stacklevel=2,
                )
                params = prev
                break
            history.append(total)
            prev, params = params, self._mstep(xt, params, gamma, resp, start, xi, floor)
            if len(history) >= 2 and (history[-1] - history[-2]) / n < self.tol:
                converged = True
                break
        self.startprob_ = params["startprob"]
        self.transmat_ = params["transmat"]
        self.means_ = params["means"]
        self.covars_ = params["covars"]
        self.weights_ = params["weights"]
        self.var_floor_ = floor
        self.history_ = history
        self.n_iter_ = len(history)
        self.converged_ = converged
        return self

    def _given_params(self, init: Mapping[str, np.ndarray], d: int) -> dict[str, np.ndarray]:
        """Validate explicit initial parameters and bring them into (K, M, D) form."""
        k, m = self.n_states, self.n_mix
        try:
            out = {
                "startprob": np.asarray(init["startprob"], dtype=np.float64).reshape(k),
                "transmat": np.asarray(init["transmat"], dtype=np.float64).reshape(k, k),
                "means": np.asarray(init["means"], dtype=np.float64).reshape(k, m, d),
                "covars": np.asarray(init["covars"], dtype=np.float64).reshape(k, m, d),
                "weights": np.asarray(
                    init.get("weights", np.full((k, m), 1.0 / m)), dtype=np.float64
                ).reshape(k, m),
            }
        except (KeyError, ValueError) as exc:
            raise AffectflowError(f"HMM: invalid init_params ({exc})") from exc
        if any(not np.all(np.isfinite(v)) for v in out.values()) or np.any(out["covars"] <= 0):
            raise AffectflowError("HMM: init_params must be finite with positive covars")
        out["startprob"] = _normalise(out["startprob"])  # floored: no zero scale factors
        out["transmat"] = _normalise(out["transmat"])
        return out

    def _mstep(
        self, xt: np.ndarray, old: dict[str, np.ndarray], gamma: np.ndarray,
        resp: np.ndarray | None,
        start: np.ndarray, xi: np.ndarray, floor: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Re-estimate all parameters; weakly occupied states/components keep the old ones."""
        k, m = self.n_states, self.n_mix
        d, n = xt.shape
        post = gamma if resp is None else (gamma[:, :, None] * resp).reshape(n, k * m)
        occ, s1, s2 = _accumulate(xt, post)
        ok = occ >= _MIN_OCC
        safe = np.where(ok, occ, 1.0)[:, None]
        means = s1 / safe
        covars = np.maximum(s2 / safe - means * means, floor)
        means = np.where(ok[:, None], means, old["means"].reshape(k * m, d))
        covars = np.where(ok[:, None], covars, old["covars"].reshape(k * m, d))
        occ_km = occ.reshape(k, m)
        state_occ = occ_km.sum(axis=1, keepdims=True)
        if m == 1:
            weights = old["weights"]
        else:
            weights = np.maximum(occ_km / np.maximum(state_occ, 1e-300), _WEIGHT_FLOOR)
            weights /= weights.sum(axis=1, keepdims=True)
            weights = np.where(state_occ >= _MIN_OCC, weights, old["weights"])
        new = {
            "startprob": _normalise(start),
            "transmat": _normalise(xi),
            "means": means.reshape(k, m, d),
            "covars": covars.reshape(k, m, d),
            "weights": weights,
        }
        if not all(np.all(np.isfinite(v)) for v in new.values()):
            raise AffectflowError("HMM: Baum-Welch produced non-finite parameters")
        return new

    def loglik(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Total log-likelihood of each sequence, shape (n_seqs,)."""
        return _score_models([self], seqs)[:, 0]


def _score_models(models: Sequence[GaussianHMM], seqs: Sequence[np.ndarray]) -> np.ndarray:
    """Log-likelihood (n_seqs, G) of every sequence under each of the G fitted models at once."""
    for mdl in models:
        if not hasattr(mdl, "means_"):
            raise AffectflowError("HMM: the model is not fitted")
    k, m, d = models[0].means_.shape
    X, lengths = _as_frames(seqs, n_features=d)
    g = len(models)
    means = np.concatenate([mdl.means_.reshape(k * m, d) for mdl in models])
    covars = np.concatenate([mdl.covars_.reshape(k * m, d) for mdl in models])
    log_w = np.log(np.concatenate([mdl.weights_ for mdl in models]))
    startprob = np.stack([mdl.startprob_ for mdl in models])
    transmat = np.stack([mdl.transmat_ for mdl in models])
    out = np.empty((lengths.size, g))
    # batches of whole sequences bound the memory of the (G, frames, K) lattices
    bounds, acc = [0], 0
    for i, length in enumerate(lengths.tolist()):
        if acc and acc + length > _MAX_SCORE_FRAMES:
            bounds.append(i)
            acc = 0
        acc += length
    bounds.append(lengths.size)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        xb = X[starts[first] : starts[last]]
        pk = _pack(lengths[first:last])
        logn = _log_gauss(_packed_frames(xb, pk.src), means, covars)
        logb, _ = _state_loglik(logn.reshape(xb.shape[0], g * k, m), log_w)
        lb = np.ascontiguousarray(logb.reshape(-1, g, k).transpose(1, 0, 2))
        out[first:last] = _seq_sums(_forward(lb, pk, startprob, transmat)[3], pk)
    if not np.all(np.isfinite(out)):
        bad = int(np.argmin(np.isfinite(out).all(axis=1)))
        raise AffectflowError(
            f"HMM: non-finite log-likelihood for sequence {bad} (features far outside the "
            "training range?)"
        )
    return out


class HMMClassifier(BaseEstimator):
    """One ergodic Gaussian HMM per class; predicts the class of highest log-likelihood.

    The variance floor of every class model is relative to the variance of all training frames,
    so a dimension that is constant within one class cannot collapse that class's model.
    """

    def __init__(
        self,
        n_states: int = 3,
        n_mix: int = 1,
        n_iter: int = 20,
        tol: float = 1e-3,
        var_floor: float = 1e-3,
        init: str = "kmeans",
        seed: int = 0,
    ) -> None:
        self.n_states = n_states
        self.n_mix = n_mix
        self.n_iter = n_iter
        self.tol = tol
        self.var_floor = var_floor
        self.init = init
        self.seed = seed

    def fit(self, seqs: Sequence[np.ndarray], y: np.ndarray) -> HMMClassifier:
        """Train one HMM per class on the sequences labelled with it."""
        y = np.asarray(y)
        if y.ndim != 1 or y.size != len(seqs):
            raise AffectflowError(f"HMM: {len(seqs)} sequences but labels of shape {y.shape}")
        X, _ = _as_frames(seqs)
        ref_var = _frame_var(X)
        del X
        self.classes_ = np.unique(y)
        models = []
        for label in self.classes_:
            members = [seqs[i] for i in np.flatnonzero(y == label)]
            hmm = GaussianHMM(**self.get_params())
            try:
                models.append(hmm.fit(members, ref_var=ref_var))
            except AffectflowError as exc:
                raise AffectflowError(f"HMM of class {label!r}: {exc}") from exc
        self.models_ = models
        return self

    def loglik(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Total log-likelihood of each sequence under each class model, (n_seqs, n_classes)."""
        if not hasattr(self, "models_"):
            raise AffectflowError("HMM: the classifier is not fitted")
        return _score_models(self.models_, seqs)

    def predict(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Class of highest log-likelihood for each sequence."""
        return self.classes_[np.argmax(self.loglik(seqs), axis=1)]

    def save(self, path: str | Path) -> None:
        """Write all parameters to an npz file (atomically; no pickled objects)."""
        if not hasattr(self, "models_"):
            raise AffectflowError("HMM: the classifier is not fitted")
        classes = self.classes_
        if classes.dtype == object:
            classes = classes.astype(str)
        arrays: dict[str, Any] = {
            "hyper": np.array(json.dumps(self.get_params())),
            "classes": classes,
            "history": np.array(json.dumps([mdl.history_ for mdl in self.models_])),
            "converged": np.array([mdl.converged_ for mdl in self.models_]),
        }
        for key in ("startprob_", "transmat_", "means_", "covars_", "weights_", "var_floor_"):
            arrays[key.rstrip("_")] = np.stack([getattr(mdl, key) for mdl in self.models_])
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> HMMClassifier:
        """Read a classifier written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {key: z[key] for key in z.files}
        except (OSError, ValueError) as exc:
            raise AffectflowError(f"{path}: not a saved HMMClassifier ({exc})") from exc
        clf = cls(**json.loads(str(data["hyper"])))
        clf.classes_ = data["classes"]
        histories = json.loads(str(data["history"]))
        models = []
        for i in range(clf.classes_.size):
            mdl = GaussianHMM(**clf.get_params())
            for key in ("startprob", "transmat", "means", "covars", "weights", "var_floor"):
                setattr(mdl, key + "_", data[key][i])
            mdl.history_ = histories[i]
            mdl.n_iter_ = len(histories[i])
            mdl.converged_ = bool(data["converged"][i])
            models.append(mdl)
        clf.models_ = models
        return clf
