"""Packed Baum-Welch numerics of :mod:`affectflow.models.hmm`: input checks, the time-major
packing of variable-length sequences, emission densities, the weighted frame statistics of the
M step and the batched scaled forward-backward recursion (E step).

Separate from the estimators so that the numerically delicate, BLAS-free array code (see the
docstring of :mod:`affectflow.models.hmm` for why no BLAS) can be read and benchmarked on its own;
the estimators only orchestrate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from affectflow.errors import AffectflowError

_CHUNK = 16384  # frames per block in the emission and statistics passes (bounds the memory)
_LOG_2PI = float(np.log(2.0 * np.pi))


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

