"""Correlation-based feature selection, a faithful and fast re-implementation of Weka 3.6.

``cfs_select`` returns the subset that ::

    java -cp weka.jar weka.attributeSelection.CfsSubsetEval \\
        -s "weka.attributeSelection.BestFirst -D 1 -N 5" -i data.arff

selects (class = last attribute), i.e. Weka's ``CfsSubsetEval`` with its defaults (missing
values distributed, locally predictive attributes added) driven by ``BestFirst`` forward
search from the empty set, 5 non-improving expansions allowed, open list of 5.

What Weka does, and what is reproduced here bit for bit:

* every feature is discretised with the supervised MDL filter (:mod:`.mdl`);
* correlations are symmetrical uncertainties of contingency tables with an extra row/column
  for missing values whose counts are spread over the other cells; a value within ``1e-6`` of
  zero becomes 0 for feature-class and 1 for feature-feature pairs; values are stored as
  32-bit floats, and the pair orientation (which attribute indexes the rows) is Weka's;
* merit ``sum r_cf / sqrt(k + 2 sum r_ff)`` summed in Weka's order (the fast path adds in any
  order only where the sum is provably exact; otherwise the exact order is replayed);
* BestFirst's open list (insertion after equal merits, drop when full), the running best that
  must improve by more than ``1e-5`` in attribute order, and the stale counter;
* ``addLocallyPredictive``: remaining attributes in descending class correlation (lowest index
  first on ties) join when no selected attribute correlates more with them than the class does.

Speed comes from computing a feature's correlations with all other features at once (a
one-hot matrix product gives every joint contingency table) and only for the features the
search actually expands, and from scoring all candidate subsets of an expansion together.

No BLAS anywhere (the "matrix product" is AND + popcount on packed bits, counted in integers;
every floating-point sum follows Weka's order or is provably exact), so the selected subset and
its merit are bit-identical under every BLAS kernel and thread count
(``tests/test_blas_invariance.py``); keep it that way: merits are compared with a 1e-5 margin
and ties broken by attribute order, decisions the last bits of a BLAS sum could flip.

The correlations (symmetrical uncertainties, missing values, the bit-packed joint tables) are
in :mod:`affectflow.selection.cfs_corr`; this module scores subsets and runs the search.
"""

from __future__ import annotations

import numpy as np

from affectflow.selection.cfs_corr import SMALL as SMALL
from affectflow.selection.cfs_corr import _Correlations, _ulp
from affectflow.selection.cfs_corr import _LnFunc as _LnFunc
from affectflow.selection.cfs_corr import distribute_missing as distribute_missing
from affectflow.selection.cfs_corr import symmetrical_uncertainty as symmetrical_uncertainty
from affectflow.selection.mdl import discretize

MIN_IMPROVEMENT = 1e-5  # BestFirst: forward search needs merit - best > 1e-5
MAX_STALE = 5  # BestFirst -N default; also the open list's capacity
_EXACT_LIMIT = 2.0**53


def _merit(num: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """CfsSubsetEval's final step: ``|num / sqrt(|denom|)|``, 0 when ``denom == 0``."""
    denom = np.abs(denom)
    with np.errstate(divide="ignore", invalid="ignore"):
        merit = np.abs(num / np.sqrt(denom))
    return np.where(denom == 0.0, 0.0, merit)


class _SubsetScorer:
    """Merits of ``S + j`` for every candidate ``j``, equal to Weka's ``evaluateSubset``."""

    def __init__(self, corr: _Correlations) -> None:
        self.corr = corr
        self.r_cf = corr.class_r.astype(np.float64)

    def rows(self, subset: np.ndarray) -> np.ndarray:
        """Canonical correlation rows of the subset's members, as float64 (k x m)."""
        for s in subset.tolist():
            self.corr.compute_row(s)
        if subset.size == 0:
            return np.zeros((0, self.corr.m))
        return np.stack([self.corr.canon[s] for s in subset.tolist()]).astype(np.float64)

    def candidates(self, subset: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """Merits of ``subset + {j}`` for each ``j`` in ``cands`` (ascending)."""
        rows = self.rows(subset)
        pair = rows[:, subset]
        k = subset.size
        num_s = self.r_cf[subset].sum()
        den_s = float(k) + 2.0 * np.triu(pair, 1).sum()
        cand_rows = rows[:, cands]
        num = num_s + self.r_cf[cands]
        den = (den_s + 1.0) + 2.0 * cand_rows.sum(axis=0)
        gran = min(
            float(_ulp(self.r_cf[subset]).min(initial=np.inf)),
            float(_ulp(np.triu(pair, 1)[np.triu_indices(k, 1)]).min(initial=np.inf)),
            1.0,
        )
        gran_c = np.minimum(gran, _ulp(self.r_cf[cands]))
        for s in subset.tolist():
            gran_c = np.minimum(gran_c, self.corr.canon_ulp[s][cands])
        merit = _merit(num, den)
        unsure = (den >= _EXACT_LIMIT * gran_c) | (num >= _EXACT_LIMIT * gran_c)
        if unsure.any():
            merit[unsure] = ordered_merits(subset, cands[unsure], self.r_cf, rows)
        return merit


def ordered_merits(
    subset: np.ndarray, cands: np.ndarray, r_cf: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Merits of ``subset + {j}`` summed in exactly Weka's order (slow path).

    Weka adds, for each member ``i`` in ascending order, ``1`` and then ``2 r(i, t)`` for every
    member ``t < i``; the numerator adds ``r_cf`` in ascending order. Candidates sharing an
    insertion point share a term layout and are accumulated together (``np.add.accumulate``
    is sequential, hence bit-exact).
    """
    k = subset.size
    pair = 2.0 * rows[:, subset]
    blocks = [np.r_[1.0, pair[q, :q]] for q in range(k)]
    starts = np.cumsum([0] + [b.size for b in blocks])
    flat = np.concatenate(blocks) if blocks else np.zeros(0)
    den_acc = np.r_[0.0, np.add.accumulate(flat)] if flat.size else np.zeros(1)
    num_acc = np.r_[0.0, np.add.accumulate(r_cf[subset])] if k else np.zeros(1)
    insert_at = np.searchsorted(subset, cands)
    out = np.empty(cands.size)
    for p in np.unique(insert_at).tolist():
        sel = np.flatnonzero(insert_at == p)
        js = cands[sel]
        g = js.size
        num_terms = np.column_stack(
            [np.full(g, num_acc[p]), r_cf[js], np.broadcast_to(r_cf[subset[p:]], (g, k - p))]
        )
        num = np.add.accumulate(num_terms, axis=1)[:, -1]
        tail = np.broadcast_to(flat[starts[p] :], (g, flat.size - starts[p]))
        where = starts[p:k] - starts[p] + 1 + p
        tail = np.insert(tail, where, 2.0 * rows[p:, js].T, axis=1)
        den_terms = np.column_stack(
            [np.full(g, den_acc[starts[p]]), np.ones(g), 2.0 * rows[:p, js].T, tail]
        )
        den = np.add.accumulate(den_terms, axis=1)[:, -1]
        out[sel] = _merit(num, den)
    return out


def _add_to_open_list(
    open_list: list[tuple[float, tuple[int, ...]]],
    merits: np.ndarray,
    subsets: list[tuple[int, ...]],
    capacity: int = MAX_STALE,
) -> list[tuple[float, tuple[int, ...]]]:
    """BestFirst's ``addToList`` applied to a batch, in order.

    Sequential insertion into a list of this capacity that places a node after the nodes of
    equal merit and drops it when the list is full and it is no better than the last keeps
    exactly the first ``capacity`` nodes of a stable sort by descending merit.
    """
    top = np.argsort(-merits, kind="stable")[:capacity]
    merged = list(open_list) + [(float(merits[t]), subsets[t]) for t in top.tolist()]
    order = sorted(range(len(merged)), key=lambda i: (-merged[i][0], i))
    return [merged[i] for i in order[:capacity]]


class _LazySubsets:
    """``subsets[t]`` = sorted tuple of ``subset + {cands[t]}``, built on demand."""

    def __init__(self, subset: tuple[int, ...], cands: np.ndarray) -> None:
        self.subset = subset
        self.cands = cands

    def __getitem__(self, t: int) -> tuple[int, ...]:
        return tuple(sorted((*self.subset, int(self.cands[t]))))


def best_first(
    scorer: _SubsetScorer, m: int, max_stale: int = MAX_STALE
) -> tuple[tuple[int, ...], float, set[int]]:
    """Weka's BestFirst forward search from the empty set (``-D 1 -N max_stale``).

    Returns the best subset, its merit and the attributes of every expanded subset (the
    pairs Weka correlated during the search involve one of them).
    """
    best: tuple[int, ...] = ()
    best_merit = 0.0  # merit of the empty set
    open_list: list[tuple[float, tuple[int, ...]]] = [(best_merit, best)]
    expanded: set[int] = set()
    stale = 0
    all_attrs = np.arange(m)
    while stale < max_stale and open_list:
        _, subset = open_list.pop(0)
        expanded.update(subset)
        members = np.asarray(subset, dtype=np.int64)
        cands = np.setdiff1d(all_attrs, members)
        if cands.size == 0:
            stale += 1
            continue
        merits = scorer.candidates(members, cands)
        subsets = _LazySubsets(subset, cands)
        open_list = _add_to_open_list(open_list, merits, subsets, max_stale)
        improved = False
        start = 0
        while True:
            hits = np.flatnonzero(merits[start:] - best_merit > MIN_IMPROVEMENT)
            if hits.size == 0:
                break
            pick = start + int(hits[0])
            best_merit = float(merits[pick])
            best = subsets[pick]
            improved = True
            start = pick + 1
        stale = 0 if improved else stale + 1
    return best, best_merit, expanded


def locally_predictive(
    corr: _Correlations, selected: tuple[int, ...], expanded: set[int]
) -> list[int]:
    """CfsSubsetEval's ``addLocallyPredictive`` post-processing.

    Attributes outside the subset are visited in descending class correlation (lowest index
    first on ties); one joins unless a selected attribute correlates with it more strongly
    than it does with the class. A pair Weka has not met during the search is correlated with
    the selected attribute indexing the table rows, as Weka does.
    """
    group = list(selected)
    r_cf = corr.class_r
    in_expanded = np.zeros(corr.m, dtype=bool)
    in_expanded[list(expanded)] = True
    strongest = np.full(corr.m, -np.inf, dtype=np.float32)
    for i in group:
        strongest = np.maximum(strongest, _lp_row(corr, i, in_expanded))
    chosen = np.zeros(corr.m, dtype=bool)
    chosen[group] = True
    for x in np.argsort(-r_cf, kind="stable").tolist():
        if chosen[x] or strongest[x] > r_cf[x]:
            continue
        group.append(x)
        chosen[x] = True
        strongest = np.maximum(strongest, _lp_row(corr, x, in_expanded))
    return sorted(group)


def _lp_row(corr: _Correlations, i: int, in_expanded: np.ndarray) -> np.ndarray:
    """Correlations of member ``i`` with every attribute as Weka's post-processing sees them."""
    corr.compute_row(i)
    if in_expanded[i]:
        return corr.canon[i]
    return np.where(in_expanded, corr.canon[i], corr.member[i])


def _check_inputs(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate shapes and labels; return float64 X, int64 y and the number of classes."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D with one label per row; got {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("CFS needs at least one instance")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("y must hold integer class labels 0..C-1")
    return X, y.astype(np.int64), int(y.max()) + 1


def cfs_select_with_merit(
    X: np.ndarray, y: np.ndarray, search_termination: int = MAX_STALE
) -> tuple[list[int], float]:
    """Weka 3.6 CfsSubsetEval + BestFirst (-D 1 -N 5) on ``X`` (NaN = missing) and labels ``y``.

    Returns the selected column indices (ascending, locally predictive attributes included)
    and the merit of the best subset the search found (before post-processing), the value
    Weka prints as "Merit of best subset found". ``search_termination`` is BestFirst's ``-N``
    (non-improving expansions allowed, which is also the open list's capacity).
    """
    if search_termination < 1:
        raise ValueError("search_termination (BestFirst -N) must be >= 1")
    X, y, n_classes = _check_inputs(X, y)
    if X.shape[1] == 0:
        return [], 0.0
    disc = discretize(X, y, n_classes)
    corr = _Correlations(disc, y, n_classes)
    best, merit, expanded = best_first(_SubsetScorer(corr), X.shape[1], search_termination)
    return locally_predictive(corr, best, expanded), merit


def cfs_select(X: np.ndarray, y: np.ndarray, search_termination: int = MAX_STALE) -> list[int]:
    """Column indices (ascending) that Weka's CfsSubsetEval + BestFirst selects."""
    return cfs_select_with_merit(X, y, search_termination)[0]
