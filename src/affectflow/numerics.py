"""Numerics whose results do not depend on the BLAS kernel or the number of threads.

The workflow takes discrete decisions from floating-point sums: which face coordinates PFA
keeps, which emotion cluster an annotation joins, which frames initialise an HMM state. BLAS
routines (``@``, ``np.dot``, ``np.linalg``, scikit-learn's k-means) add in an order that depends
on the CPU kernel OpenBLAS picks (``OPENBLAS_CORETYPE``) and on the thread count, so their last
bits differ between machines, and a near-tie decided by those bits flips (measured: every tiny
fold's PFA picks differed between the Prescott, Haswell and SandyBridge kernels).

Everything here uses only numpy's element-wise operations (+, -, *, /, sqrt: correctly rounded
in IEEE arithmetic) and numpy's own reductions and ``np.einsum`` loops (never BLAS), whose order
is fixed by numpy's code, not by the BLAS kernel, the threads or the CPU model; where a BLAS
product is used, its operands are integers whose sums are exact in float64, so every summation
order gives the same bits. Given the same inputs and numpy version, the results are bit-identical
on any kernel and thread count. Ties are broken towards the lowest index everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bits of each centred column kept by :func:`exact_covariance` (resolution 2**-22 of the
#: column's largest absolute deviation: far below any measurement precision of the inputs).
COV_BITS = 22
_FLOAT_EXACT_BITS = 53  # integers up to 2**53 are exact in float64
_INT64_BITS = 63
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_LOOP_DIMS = 8  # squared_distances: dimension-by-dimension up to this many dimensions
_DIST_BLOCK = 1024  # squared_distances: rows per block above _LOOP_DIMS dimensions


# ---------------------------------------------------------------------------------------------
# covariance


def _column_scales(xc: np.ndarray, bits: int) -> np.ndarray:
    """Power-of-two quantum per column: ``|xc / quantum| <= 2**bits`` (1 for constant columns)."""
    top = np.maximum(xc.max(axis=0), -xc.min(axis=0))
    _, exponent = np.frexp(np.where(top > 0, top, 1.0))  # top <= 2**exponent, exactly
    return np.ldexp(1.0, exponent - bits)


def exact_covariance(x: np.ndarray, bits: int = COV_BITS) -> np.ndarray:
    """Sample covariance (``ddof = 1``, as ``np.cov(x, rowvar=False)``) of the rows of ``x``,
    bit-identical under every BLAS kernel and thread count.

    The columns are centred on their (numpy-computed) means and quantised to integers of at
    most ``bits`` bits with a power-of-two step per column. Products of those integers are then
    summed exactly: a BLAS product over a block of rows adds integers that never exceed
    ``2**53`` (exact in float64, whatever the order), and the blocks are added in int64. The
    only change to the covariance is the quantisation (relative ``2**-bits``); it is what
    makes the sum independent of the order in which the kernel adds.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 rows, got {n}")
    bits = min(bits, (_INT64_BITS - 1 - (n - 1).bit_length()) // 2)  # the int64 total fits
    q = x - x.mean(axis=0)  # centred, then quantised in place (one copy of the frames)
    scale = _column_scales(q, bits)
    q /= scale  # exact: a power of two
    np.rint(q, out=q)  # |q| <= 2**bits
    block = 1 << (_FLOAT_EXACT_BITS - 2 * bits)  # sum of `block` products stays <= 2**53
    total = np.zeros((x.shape[1], x.shape[1]), dtype=np.int64)
    for lo in range(0, n, block):
        part = q[lo : lo + block]
        total += (part.T @ part).astype(np.int64)  # integers below 2**53: exact in any order
    return total.astype(np.float64) * np.outer(scale, scale) / (n - 1)


# ---------------------------------------------------------------------------------------------
# symmetric eigen-decomposition


def _round_robin(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairings of a cyclic round-robin tournament: every pair (p < q) once per sweep, each
    round made of disjoint pairs (so its rotations commute and apply at once)."""
    m = n + (n % 2)
    players = list(range(m))
    rounds = []
    for _ in range(m - 1):
        pairs = [(players[i], players[m - 1 - i]) for i in range(m // 2)]
        pairs = [(min(a, b), max(a, b)) for a, b in pairs if max(a, b) < n]
        if pairs:
            rounds.append((np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])))
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def symmetric_eigh(a: np.ndarray, max_sweeps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi rotations.

    Returns them in descending order of eigenvalue (ties: lower original index first). Unlike
    ``np.linalg.eigh`` (LAPACK on top of BLAS), only element-wise numpy operations are used,
    so the result is bit-identical under every BLAS kernel and thread count. Jacobi is also
    among the most accurate eigen-solvers: a pair is rotated until ``|a_pq| <= eps
    sqrt(|a_pp a_qq|)`` or ``|a_pq| <= eps max|a|`` (rounding noise, the accuracy LAPACK
    gives too). Each sweep applies the ``n - 1`` rounds of disjoint rotations of a round-robin
    ordering, vectorised; 8-13 sweeps for a 138 x 138 covariance (0.2-0.6 s).
    """
    a = np.array(a, dtype=np.float64)
    n = a.shape[0]
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"expected a square matrix, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("the matrix has NaN or infinite entries")
    a = (a + a.T) / 2.0
    v = np.eye(n)
    rounds = _round_robin(n)
    floor = max(_EPS * float(np.abs(a).max(initial=0.0)), _TINY)
    for _ in range(max_sweeps):
        rotated = 0
        for p, q in rounds:
            rotated += _rotate(a, v, p, q, floor)
        if rotated == 0:
            break
    values = np.diag(a).copy()
    order = np.argsort(-values, kind="stable")
    return values[order], v[:, order]


def _rotate(a: np.ndarray, v: np.ndarray, p: np.ndarray, q: np.ndarray, floor: float) -> int:
    """Apply the Jacobi rotations that zero ``a[p, q]`` for disjoint pairs (in place); pairs
    already negligible (see :func:`symmetric_eigh`) are left alone. Returns the number of
    rotations applied."""
    apq = a[p, q]
    app, aqq = a[p, p], a[q, q]
    live = np.abs(apq) > _EPS * np.sqrt(np.abs(app) * np.abs(aqq))
    live &= np.abs(apq) > floor
    if not live.any():
        return 0
    p, q, apq, app, aqq = p[live], q[live], apq[live], app[live], aqq[live]
    theta = (aqq - app) / (2.0 * apq)
    with np.errstate(over="ignore"):
        root = np.sqrt(theta * theta + 1.0)  # inf for huge theta: t = 0, no rotation needed
    t = np.where(theta >= 0.0, 1.0, -1.0) / (np.abs(theta) + root)
    c = 1.0 / np.sqrt(t * t + 1.0)
    s = t * c
    for m in (a, v):  # columns: m <- m J
        mp, mq = m[:, p].copy(), m[:, q].copy()
        m[:, p] = c * mp - s * mq
        m[:, q] = s * mp + c * mq
    ap, aq = a[p, :].copy(), a[q, :].copy()  # rows: a <- J^T a
    a[p, :] = c[:, None] * ap - s[:, None] * aq
    a[q, :] = s[:, None] * ap + c[:, None] * aq
    a[p, q] = 0.0
    a[q, p] = 0.0
    return int(p.size)


# ---------------------------------------------------------------------------------------------
# distances and k-means


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(n, k)`` of rows to centres from explicit differences.

    No ``|x|^2 - 2 x.c + |c|^2`` BLAS trick, which cancels and depends on the kernel's
    summation order. Few dimensions (up to ``_LOOP_DIMS``) are added one after another; more are
    summed per centre by ``np.einsum`` (numpy's own loop, never BLAS; 4x faster for HMM frames).
    Either way the order is fixed by the shapes, so the bits are the same on every kernel.
    """
    x = np.asarray(x, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    out = np.zeros((x.shape[0], centres.shape[0]))
    if x.shape[1] <= _LOOP_DIMS:
        for j in range(x.shape[1]):
            diff = x[:, j, None] - centres[None, :, j]
            out += diff * diff
        return out
    for lo in range(0, x.shape[0], _DIST_BLOCK):  # blocks of rows that stay in the cache
        block = x[lo : lo + _DIST_BLOCK]
        for c in range(centres.shape[0]):
            diff = block - centres[c]
            out[lo : lo + _DIST_BLOCK, c] = np.einsum("nd,nd->n", diff, diff)
    return out


def nearest(dist: np.ndarray) -> np.ndarray:
    """Index of the smallest entry of every row (the first one on ties)."""
    return np.argmin(dist, axis=1).astype(np.int64)


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`."""

    centres: np.ndarray  # (k, d)
    labels: np.ndarray  # (n,) index of each row's (nearest) centre
    inertia: float  # sum of squared distances to the assigned centres
    n_iter: int  # Lloyd iterations of the kept run


def _kmeans_plusplus(x: np.ndarray, k: int, rs: np.random.RandomState) -> np.ndarray:
    """Greedy k-means++ seeding (``2 + log k`` candidates per centre), as scikit-learn does it.

    Same random draws as ``sklearn.cluster.kmeans_plusplus`` with unit weights; distances and
    potentials are computed with :func:`squared_distances` and numpy's fixed-order sums.
    """
    n = x.shape[0]
    trials = 2 + int(np.log(k))
    first = int(rs.choice(n, p=np.full(n, 1.0 / n)))
    chosen = [first]
    closest = squared_distances(x, x[first : first + 1])[:, 0]
    potential = closest.sum()
    for _ in range(1, k):
        draws = rs.uniform(size=trials) * potential
        cands = np.searchsorted(np.cumsum(closest), draws)
        cands = np.minimum(cands, n - 1)
        dist = np.minimum(closest[:, None], squared_distances(x, x[cands]))
        pots = dist.sum(axis=0)
        best = int(np.argmin(pots))
        potential, closest = pots[best], dist[:, best]
        chosen.append(int(cands[best]))
    return x[chosen].copy()


def _centres_of(x: np.ndarray, labels: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Mean of each cluster's rows (summed in index order by ``np.add.reduceat``); an empty
    cluster takes the row farthest from its centre (ties: lowest index) of a cluster that keeps
    at least one row."""
    k = old.shape[0]
    labels = labels.copy()
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        far = squared_distances(x, old)[np.arange(x.shape[0]), labels]
        for i in np.lexsort((np.arange(x.shape[0]), -far)).tolist():
            if not empty:
                break
            if counts[labels[i]] > 1:
                counts[labels[i]] -= 1
                labels[i] = empty.pop(0)
                counts[labels[i]] = 1
    order = np.argsort(labels, kind="stable")  # rows of each cluster in index order
    starts = np.cumsum(counts) - counts
    filled = counts > 0
    centres = old.copy()
    sums = np.add.reduceat(x[order], starts[filled], axis=0)
    centres[filled] = sums / counts[filled, None]
    return centres


def _lloyd(
    x: np.ndarray, centres: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd iterations until the assignment is stable or the centres move less than ``tol``
    (squared shift summed over centres, scikit-learn's rule); the final labels are the nearest
    centres of the final centres."""
    labels = nearest(squared_distances(x, centres))
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new = _centres_of(x, labels, centres)
        shift = ((new - centres) ** 2).sum()
        centres = new
        new_labels = nearest(squared_distances(x, centres))
        stable = np.array_equal(new_labels, labels)
        labels = new_labels
        if stable or shift <= tol:
            break
    dist = squared_distances(x, centres)
    labels = nearest(dist)
    inertia = float(dist[np.arange(x.shape[0]), labels].sum())
    return centres, labels, inertia, n_iter


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    n_init: int = 10,
    seed: int = 0,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansResult:
    """k-means (k-means++ seeding, Lloyd iterations), the best of ``n_init`` runs by inertia.

    Replaces ``sklearn.cluster.KMeans``, whose distances (``|x|^2 - 2 x.c + |c|^2`` through BLAS)
    and OpenMP chunks make near-ties depend on the kernel and thread count. Here every
    distance is formed from explicit differences and every sum has a fixed order, so the result
    is bit-identical everywhere; ties go to the lowest centre index, and a later run replaces
    the kept one only with a strictly lower inertia. ``tol`` is relative to the mean variance
    of the columns, as in scikit-learn; the seeding draws the same random numbers
    (``np.random.RandomState(seed)``, shared by the runs in turn).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D, got {x.shape}")
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"cannot make {k} clusters of {x.shape[0]} rows")
    rs = np.random.RandomState(seed)
    abs_tol = float(x.var(axis=0).mean()) * tol
    best: KMeansResult | None = None
    for _ in range(n_init):
        centres, labels, inertia, it = _lloyd(x, _kmeans_plusplus(x, k, rs), max_iter, abs_tol)
        if best is None or inertia < best.inertia:
            best = KMeansResult(centres, labels, inertia, it)
    assert best is not None
    return best


# ---------------------------------------------------------------------------------------------
# products without BLAS


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` of two vectors by ``np.einsum`` (numpy's own loop, never BLAS: ``np.dot`` and
    ``@`` call the kernel's ``ddot``, whose summation order differs between kernels)."""
    return float(np.einsum("i,i->", a, b))


def matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` for a matrix and a vector by ``np.einsum`` (never BLAS; see :func:`dot`)."""
    return np.einsum("ij,j->i", a, v)
