"""Supervised MDL discretisation (Fayyad & Irani), bit-faithful to Weka 3.6.

Weka's ``CfsSubsetEval`` discretises every numeric attribute with
``weka.filters.supervised.attribute.Discretize`` (``useBetterEncoding = true``) before it
measures symmetrical uncertainty. This module reproduces that filter exactly:

* the recursive entropy split of Fayyad & Irani over the sorted training values, a cut point
  being the midpoint of two adjacent distinct values; the first minimum of the class entropy
  wins ties, missing values (NaN) take no part;
* the MDL stopping rule with the "better encoding" (``log2`` of the number of distinct
  boundaries in the interval instead of ``N - 1``);
* Weka's order of floating-point operations, and a correctly rounded natural logarithm (what
  Java's ``Math.log`` returns; numpy's ``log`` is off by one ulp for a few arguments, which can
  flip the choice between two mathematically tied cut points).

The search is vectorised: columns are sorted once, class counts are cumulated, and every open
interval of every column of a chunk is scored in one pass per recursion level. Counts are
integers and the entropies are element-wise in a fixed order (no BLAS), so the cut points do not
depend on the BLAS kernel or the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

#: Java's ``Math.log(2)``, Weka's ``log2`` constant.
LOG2 = 0.6931471805599453

_NLOGN_CACHE: dict[str, np.ndarray] = {"table": np.zeros(1)}
_CHUNK_COLUMNS = 256


def _decimal_log(values: np.ndarray) -> np.ndarray:
    """Correctly rounded ``ln`` via 40-digit decimal arithmetic (slow; for few values)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return np.array([float(Decimal(float(v)).ln()) for v in values], dtype=np.float64)


def java_log(values: np.ndarray) -> np.ndarray:
    """Natural log of positive values, correctly rounded, as Java's ``Math.log`` returns it.

    Computed in extended precision; results that lie too close to a rounding midpoint of the
    double grid (or all of them, where ``long double`` is no wider than ``double``) are redone
    with :mod:`decimal`.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    if np.finfo(np.longdouble).nmant < 60:
        return _decimal_log(x.ravel()).reshape(x.shape)
    ext = np.log(x.astype(np.longdouble))
    out = ext.astype(np.float64)
    rest = np.abs(ext - out.astype(np.longdouble)).astype(np.float64)
    half_ulp = np.spacing(np.abs(out)) / 2.0
    # Midpoints lie half an ulp away (a quarter just below a power of two).
    unsure = np.abs(rest - half_ulp) < half_ulp / 64.0
    unsure |= np.abs(rest - half_ulp / 2.0) < half_ulp / 64.0
    unsure |= out == 0.0
    if unsure.any():
        out[unsure] = _decimal_log(x[unsure])
    return out


def nlogn_table(n: int) -> np.ndarray:
    """``T[k] = k * ln(k)`` for integer ``k`` in ``0..n`` (``T[0] = 0``), Weka's ``lnFunc``."""
    table = _NLOGN_CACHE["table"]
    if table.size <= n:
        size = max(n + 1, 2 * table.size)
        k = np.arange(size, dtype=np.float64)
        table = np.zeros(size)
        table[1:] = k[1:] * java_log(k[1:])
        _NLOGN_CACHE["table"] = table
    return table


@dataclass(frozen=True)
class Discretization:
    """Result of discretising a matrix column by column.

    ``codes[i, j]`` is the bin of value ``X[i, j]`` (``-1`` where it is missing),
    ``n_bins[j]`` the number of bins of column ``j`` (1 when no cut was accepted) and
    ``cut_points[j]`` the ascending cut points (bin ``b`` holds ``cut[b-1] < x <= cut[b]``).
    """

    codes: np.ndarray
    n_bins: np.ndarray
    cut_points: list[np.ndarray]


def _entropy(counts: list[np.ndarray], table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weka's ``ContingencyTables.entropy`` of integer class counts, vectorised; also totals."""
    ret = np.zeros(counts[0].shape)
    total = np.zeros(counts[0].shape, dtype=np.int64)
    for c in counts:
        ret = ret - table[c]
        total = total + c
    safe = np.maximum(total, 1)
    ent = (ret + table[total]) / (safe * LOG2)
    return np.where(total == 0, 0.0, ent), total


def _conditional_entropy(
    left: list[np.ndarray], right: list[np.ndarray], table: np.ndarray
) -> np.ndarray:
    """Weka's ``entropyConditionedOnRows`` of the two-row table (left, right), vectorised.

    In-place operations in Weka's order: ``ret += lnFunc(cell)`` per cell, ``ret -=
    lnFunc(row sum)`` per row, then ``-ret / (total * log(2))``.
    """
    shape = left[0].shape
    ret = np.zeros(shape)
    buf = np.empty(shape)
    total = np.zeros(shape, dtype=np.int64)
    for row in (left, right):
        row_sum = np.zeros(shape, dtype=np.int64)
        for c in row:
            np.take(table, c, out=buf, mode="clip")
            ret += buf
            row_sum += c
        np.take(table, row_sum, out=buf, mode="clip")
        ret -= buf
        total += row_sum
    np.negative(ret, out=ret)
    np.maximum(total, 1, out=total)
    ret /= total * LOG2
    return ret


def _log2(values: np.ndarray) -> np.ndarray:
    """Weka's ``Utils.log2``: ``Math.log(x) / Math.log(2)``."""
    return java_log(values) / LOG2


def _mdl_accepts(
    prior: list[np.ndarray],
    left: list[np.ndarray],
    right: list[np.ndarray],
    n_cut_points: np.ndarray,
    table: np.ndarray,
) -> np.ndarray:
    """Fayyad & Irani's MDL criterion for the best split of each interval (vectorised)."""
    prior_ent, n_inst = _entropy(prior, table)
    gain = prior_ent - _conditional_entropy(left, right, table)
    k_total = sum((c > 0).astype(np.int64) for c in prior)
    k_left = sum((c > 0).astype(np.int64) for c in left)
    k_right = sum((c > 0).astype(np.int64) for c in right)
    ent_left, _ = _entropy(left, table)
    ent_right, _ = _entropy(right, table)
    delta = _log2(np.power(3.0, k_total) - 2.0) - (
        (k_total * prior_ent) - (k_right * ent_right) - (k_left * ent_left)
    )
    return gain > (_log2(n_cut_points.astype(np.float64)) + delta) / n_inst


def _expand(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten intervals ``[start, stop)`` into (interval id, position) pairs."""
    lengths = stops - starts
    ids = np.repeat(np.arange(starts.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    pos = np.arange(ids.size) - np.repeat(offsets - starts, lengths)
    return ids, pos


def _pick_splits(
    cond: np.ndarray,
    seg_of: np.ndarray,
    starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """First minimum of ``cond`` within each run of equal ``seg_of`` (runs begin at starts).

    Returns the minimum per run and the flat index of its first occurrence.
    """
    seg_min = np.minimum.reduceat(cond, starts)
    counts = np.diff(np.r_[starts, cond.size])
    at_min = np.flatnonzero(cond == np.repeat(seg_min, counts))
    first_min = at_min[np.unique(seg_of[at_min], return_index=True)[1]]
    return seg_min, first_min


def _accept(
    seg_min: np.ndarray,
    prior: list[np.ndarray],
    left: list[np.ndarray],
    right: list[np.ndarray],
    n_cuts: np.ndarray,
    table: np.ndarray,
) -> np.ndarray:
    """Weka's two checks on an interval's best split: entropy gain > 0, then MDL."""
    prior_ent, _ = _entropy(prior, table)
    ok = seg_min < prior_ent
    ok &= _mdl_accepts(prior, left, right, n_cuts, table)
    return ok


def _first_level(
    boundary: np.ndarray, cum: list[np.ndarray], n_valid: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best accepted split of every column's full (non-missing) range, on dense arrays.

    ``boundary[j, i]`` marks a cut candidate between sorted rows ``i`` and ``i + 1`` of
    column ``j``; ``cum[c][j, i]`` counts class ``c`` among the first ``i`` sorted rows.
    Returns the columns with an accepted split and the split positions.
    """
    rows = np.arange(boundary.shape[0])
    totals = [cc[rows, n_valid] for cc in cum]
    left = [cc[:, 1:-1] for cc in cum]
    right = [t[:, None] - lc for t, lc in zip(totals, left, strict=True)]
    cond = _conditional_entropy(left, right, table)
    cond[~boundary] = np.inf
    best = np.argmin(cond, axis=1)
    seg_min = cond[rows, best]
    n_cuts = boundary.sum(axis=1)
    has = n_cuts > 0
    cols, best, seg_min, n_cuts = rows[has], best[has], seg_min[has], n_cuts[has]
    prior = [t[has] for t in totals]
    b_left = [lc[cols, best] for lc in left]
    b_right = [rc[cols, best] for rc in right]
    ok = _accept(seg_min, prior, b_left, b_right, n_cuts, table)
    return cols[ok], best[ok]


def _next_level(
    seg: tuple[np.ndarray, np.ndarray, np.ndarray],
    boundary: np.ndarray,
    cum: list[np.ndarray],
    table: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Best accepted split of each interval ``(column, first, last)`` (flattened scoring).

    Returns the indices of the intervals whose split is accepted and the split positions.
    """
    col, first, last = seg
    ids, pos = _expand(first, last - 1)
    keep = boundary[col[ids], pos]
    ids, pos = ids[keep], pos[keep]
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    base = col[ids] * cum[0].shape[1]
    at, lo, hi = base + pos + 1, base + first[ids], base + last[ids]
    flat = [cc.ravel() for cc in cum]
    left = [f.take(at) - f.take(lo) for f in flat]
    right = [f.take(hi) - f.take(at) for f in flat]
    cond = _conditional_entropy(left, right, table)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    seg_with = ids[starts]
    seg_min, first_min = _pick_splits(cond, ids, starts)
    n_cuts = np.diff(np.r_[starts, ids.size])
    sc = col[seg_with]
    prior = [cc[sc, last[seg_with]] - cc[sc, first[seg_with]] for cc in cum]
    b_left = [lc[first_min] for lc in left]
    b_right = [rc[first_min] for rc in right]
    ok = _accept(seg_min, prior, b_left, b_right, n_cuts, table)
    return seg_with[ok], pos[first_min][ok]


def _sorted_columns(
    xc: np.ndarray, y: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Sort each column (missing last); return values, boundaries, class prefix counts."""
    xt = np.ascontiguousarray(xc.T)
    order = np.argsort(xt, axis=1)
    sorted_vals = np.take_along_axis(xt, order, axis=1)
    ys = y[order]
    boundary = sorted_vals[:, :-1] < sorted_vals[:, 1:]
    cum = []
    for c in range(n_classes):
        cc = np.zeros((xt.shape[0], xt.shape[1] + 1), dtype=np.intp)
        np.cumsum(ys == c, axis=1, out=cc[:, 1:])
        cum.append(cc)
    n_valid = (~np.isnan(xt)).sum(axis=1)
    return sorted_vals, boundary, cum, n_valid


def _cuts_for_chunk(xc: np.ndarray, y: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """MDL cut points for each column of ``xc`` (rows x columns), all columns at once."""
    m = xc.shape[1]
    if xc.shape[0] < 2:
        return [np.zeros(0) for _ in range(m)]
    sorted_vals, boundary, cum, n_valid = _sorted_columns(xc, y, n_classes)
    table = nlogn_table(xc.shape[0])
    col, pos = _first_level(boundary, cum, n_valid, table)
    first, last = np.zeros(col.size, dtype=np.int64), n_valid[col].astype(np.int64)
    found_col: list[np.ndarray] = []
    found_val: list[np.ndarray] = []
    while col.size:
        found_col.append(col)
        found_val.append((sorted_vals[col, pos] + sorted_vals[col, pos + 1]) / 2.0)
        col = np.r_[col, col]
        first, last = np.r_[first, pos + 1], np.r_[pos + 1, last]
        wide = last - first >= 2
        col, first, last = col[wide], first[wide], last[wide]
        if not col.size:
            break
        idx, pos = _next_level((col, first, last), boundary, cum, table)
        col, first, last = col[idx], first[idx], last[idx]
    all_col = np.concatenate(found_col) if found_col else np.zeros(0, dtype=np.int64)
    all_val = np.concatenate(found_val) if found_val else np.zeros(0)
    order = np.lexsort((all_val, all_col))
    all_col, all_val = all_col[order], all_val[order]
    bounds = np.searchsorted(all_col, np.arange(m + 1))
    return [all_val[bounds[j] : bounds[j + 1]] for j in range(m)]


def mdl_cut_points(x: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Weka's supervised MDL cut points of one numeric column (NaN = missing)."""
    y = np.asarray(y, dtype=np.int64)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    xc = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    return _cuts_for_chunk(xc, y, n_classes)[0]


def apply_cut_points(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index of each value as Weka assigns it (first cut with ``x <= cut``; -1 if NaN)."""
    codes = np.searchsorted(cuts, x, side="left").astype(np.int16)
    codes[np.isnan(x)] = -1
    return codes


def _apply_all(X: np.ndarray, cut_points: list[np.ndarray]) -> np.ndarray:
    """Bin codes of every column (vectorised :func:`apply_cut_points`)."""
    codes = np.zeros(X.shape, dtype=np.int16)
    n_cuts = np.array([c.size for c in cut_points], dtype=np.int64)
    cols = np.flatnonzero(n_cuts)
    if cols.size:
        padded = np.full((int(n_cuts.max()), cols.size), np.inf)
        for k, j in enumerate(cols.tolist()):
            padded[: n_cuts[j], k] = cut_points[j]
        sub = X[:, cols]
        acc = np.zeros(sub.shape, dtype=np.int16)
        for r in range(padded.shape[0]):
            acc += sub > padded[r]
        codes[:, cols] = acc
    codes[np.isnan(X)] = -1
    return codes


def discretize(X: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> Discretization:
    """Discretise every column of ``X`` with Weka's supervised MDL filter.

    ``X`` is (instances x features), NaN marks a missing value; ``y`` holds integer class
    labels ``0..n_classes-1``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D with one label per row; got {X.shape} and {y.shape}")
    if np.isinf(X).any():
        raise ValueError("X contains infinite values; use NaN for missing values")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    cut_points: list[np.ndarray] = []
    for start in range(0, X.shape[1], _CHUNK_COLUMNS):
        cut_points += _cuts_for_chunk(X[:, start : start + _CHUNK_COLUMNS], y, n_classes)
    codes = _apply_all(X, cut_points)
    n_bins = np.array([c.size + 1 for c in cut_points], dtype=np.int64)
    return Discretization(codes=codes, n_bins=n_bins, cut_points=cut_points)
