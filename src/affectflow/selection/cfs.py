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
"""

from __future__ import annotations

import numpy as np

from affectflow.selection.mdl import Discretization, discretize, java_log, nlogn_table

SMALL = 1e-6  # weka.core.Utils.SMALL
MIN_IMPROVEMENT = 1e-5  # BestFirst: forward search needs merit - best > 1e-5
MAX_STALE = 5  # BestFirst -N default; also the open list's capacity
_EXACT_LIMIT = 2.0**53


def _weka_eq_zero(values: np.ndarray) -> np.ndarray:
    """``Utils.eq(x, 0)``: equal, or closer than ``SMALL`` on both sides."""
    return (values == 0.0) | ((values < SMALL) & (-values < SMALL))


class _LnFunc:
    """Weka's ``lnFunc(x) = x ln x`` (0 for ``x <= 0``): table lookup for integral counts."""

    def __init__(self, n: int) -> None:
        self.table = nlogn_table(n)

    def __call__(self, x: np.ndarray, integral: bool) -> np.ndarray:
        if integral:
            return self.table[x.astype(np.int64)]
        out = np.zeros(x.shape)
        pos = x > 0
        whole = pos & (x == np.floor(x)) & (x < self.table.size)
        out[whole] = self.table[x[whole].astype(np.int64)]
        frac = pos & ~whole
        out[frac] = x[frac] * java_log(x[frac])
        return out


def symmetrical_uncertainty(tables: np.ndarray, ln: _LnFunc, integral: bool) -> np.ndarray:
    """Weka's ``ContingencyTables.symmetricalUncertainty`` of each table in ``tables[b]``.

    Follows Weka's summation order exactly (column entropy over column sums, then row sums
    and cell terms row by row) so results are bit-identical.
    """
    n_rows, n_cols = tables.shape[1], tables.shape[2]
    total = np.zeros(tables.shape[0])
    col_ent = np.zeros(tables.shape[0])
    for j in range(n_cols):
        col_sum = np.zeros(tables.shape[0])
        for i in range(n_rows):
            col_sum = col_sum + tables[:, i, j]
        col_ent = col_ent + ln(col_sum, integral)
        total = total + col_sum
    col_ent = col_ent - ln(total, integral)
    row_ent = np.zeros(tables.shape[0])
    cond = np.zeros(tables.shape[0])
    for i in range(n_rows):
        row_sum = np.zeros(tables.shape[0])
        for j in range(n_cols):
            row_sum = row_sum + tables[:, i, j]
            cond = cond + ln(tables[:, i, j], integral)
        row_ent = row_ent + ln(row_sum, integral)
    cond = cond - row_ent
    row_ent = row_ent - ln(total, integral)
    gain = col_ent - cond
    with np.errstate(divide="ignore", invalid="ignore"):
        su = 2.0 * (gain / (col_ent + row_ent))
    return np.where(_weka_eq_zero(col_ent) | _weka_eq_zero(row_ent), 0.0, su)


def distribute_missing(tables: np.ndarray, n_instances: int) -> np.ndarray:
    """Spread the missing row/column (last index) over the other cells, as CfsSubsetEval does.

    Vectorised over ``tables[b]``; operation order follows ``symmUncertCorr`` so results are
    bit-identical. Tables that are entirely missing on one side are left alone.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _distribute(tables.copy(), n_instances)


def _distribute(t: np.ndarray, n_instances: int) -> np.ndarray:
    """Body of :func:`distribute_missing` (in place on ``t``)."""
    ni, nj = t.shape[1], t.shape[2]
    sum_i = t.sum(axis=2)
    sum_j = t.sum(axis=1)
    total = sum_i.sum(axis=1)
    todo = (sum_i[:, ni - 1] < n_instances) & (sum_j[:, nj - 1] < n_instances)
    if not todo.any():
        return t
    t_copy = t.copy()
    total_missing = sum_i[:, ni - 1] + sum_j[:, nj - 1] - t[:, ni - 1, nj - 1]
    for j in range(nj - 1):
        miss = t_copy[:, ni - 1, j]
        sel = todo & (miss > 0.0)
        for i in range(ni - 1):
            share = (sum_i[:, i] / (total - sum_i[:, ni - 1])) * miss
            t[:, i, j] = np.where(sel, t[:, i, j] + share, t[:, i, j])
        t[:, ni - 1, j] = np.where(sel, 0.0, t[:, ni - 1, j])
    for i in range(ni - 1):
        miss = t_copy[:, i, nj - 1]
        sel = todo & (miss > 0.0)
        for j in range(nj - 1):
            share = (sum_j[:, j] / (total - sum_j[:, nj - 1])) * miss
            t[:, i, j] = np.where(sel, t[:, i, j] + share, t[:, i, j])
        t[:, i, nj - 1] = np.where(sel, 0.0, t[:, i, nj - 1])
    both = t_copy[:, ni - 1, nj - 1]
    sel = todo & (both > 0.0) & (total_missing != total)
    for i in range(ni - 1):
        for j in range(nj - 1):
            share = (t_copy[:, i, j] / (total - total_missing)) * both
            t[:, i, j] = np.where(sel, t[:, i, j] + share, t[:, i, j])
    t[:, ni - 1, nj - 1] = np.where(sel, 0.0, t[:, ni - 1, nj - 1])
    return t


def _pack_rows(flags: np.ndarray) -> np.ndarray:
    """Pack each row of a boolean matrix into 64-bit words (zero padded)."""
    packed = np.packbits(flags, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


class _Correlations:
    """Symmetrical uncertainties on discretised data, computed a whole row at a time.

    Slots of a feature are its bins ``0..nb-1`` plus a missing slot. Joint tables of one
    feature against all others come from bit-packed one-hot columns (AND + popcount) that
    omit each feature's bin 0 (recovered from the margins), padded to a common width with the
    missing slot last (zero padding leaves Weka's sums unchanged).
    """

    def __init__(self, disc: Discretization, y: np.ndarray, n_classes: int) -> None:
        codes = disc.codes
        self.n, self.m = codes.shape
        self.n_bins = disc.n_bins
        self.width = int(self.n_bins.max()) + 1 if self.m else 1
        self.missing = (codes < 0).any(axis=0)
        self.integral = not bool(self.missing.any())
        self.slots = np.where(codes < 0, self.width - 1, codes).astype(np.int16)
        feat, slot = [], []
        for j in range(self.m):
            extra = list(range(1, int(self.n_bins[j])))
            if self.missing[j]:
                extra.append(self.width - 1)
            feat += [j] * len(extra)
            slot += extra
        self.col_feat = np.asarray(feat, dtype=np.int64)
        self.col_slot = np.asarray(slot, dtype=np.int64)
        onehot_t = self.slots.T[self.col_feat] == self.col_slot[:, None]
        self.bits = _pack_rows(onehot_t)
        self.margins = np.zeros((self.m, self.width))
        self.margins[self.col_feat, self.col_slot] = onehot_t.sum(axis=1)
        self.margins[:, 0] = self.n - self.margins[:, 1:].sum(axis=1)
        self.ln = _LnFunc(self.n)
        class_slots = np.asarray(y, dtype=np.int64)
        self.class_r = self._class_row(class_slots, n_classes)
        self.canon: dict[int, np.ndarray] = {}
        self.member: dict[int, np.ndarray] = {}
        self.canon_ulp: dict[int, np.ndarray] = {}

    def _joint(self, slots: np.ndarray, n_slots: int, missing_slot: int | None) -> np.ndarray:
        """Joint counts ``N[b, u, v]`` of a slot vector (u) against every feature b (v)."""
        own = list(range(1, n_slots - 1))
        if missing_slot is not None:
            own.append(missing_slot)
        counts = np.bincount(slots, minlength=n_slots).astype(np.float64)
        tab = np.zeros((self.m, n_slots, self.width))
        for u in own:
            # Co-occurrence counts of slot u with every one-hot column: AND + popcount.
            mask = _pack_rows((slots == u)[None, :])
            hits = np.bitwise_count(self.bits & mask).sum(axis=1, dtype=np.int64)
            tab[self.col_feat, u, self.col_slot] = hits
            tab[:, u, 0] = counts[u] - tab[:, u, 1:].sum(axis=1)
        tab[:, 0, :] = self.margins - tab[:, 1:, :].sum(axis=1)
        return tab

    def _su(self, tab: np.ndarray) -> np.ndarray:
        """SU of each table with Weka's missing-value handling (rows = first index)."""
        if not self.integral:
            tab = distribute_missing(tab, self.n)
        return symmetrical_uncertainty(tab, self.ln, self.integral)

    def _class_row(self, y: np.ndarray, n_classes: int) -> np.ndarray:
        """Feature-class correlations (rows = feature, as ``correlate(i, classIndex)``)."""
        if self.m == 0:
            return np.zeros(0, dtype=np.float32)
        tab = self._joint(y, n_classes + 1, None)
        su = self._su(np.ascontiguousarray(tab.transpose(0, 2, 1)))
        return np.where(_weka_eq_zero(su), 0.0, su).astype(np.float32)

    def compute_row(self, a: int) -> None:
        """Correlations of feature ``a`` with all features in both table orientations."""
        if a in self.canon:
            return
        n_slots = int(self.n_bins[a]) + 1
        slots = np.where(self.slots[:, a] == self.width - 1, n_slots - 1, self.slots[:, a])
        tab = self._joint(slots, n_slots, n_slots - 1 if self.missing[a] else None)
        rows_a = self._su(tab)
        rows_b = self._su(np.ascontiguousarray(tab.transpose(0, 2, 1)))
        rows_a = np.where(_weka_eq_zero(rows_a), 1.0, rows_a).astype(np.float32)
        rows_b = np.where(_weka_eq_zero(rows_b), 1.0, rows_b).astype(np.float32)
        idx = np.arange(self.m)
        canon = np.where(idx < a, rows_a, rows_b)
        canon[a] = 1.0
        self.canon[a] = canon
        self.member[a] = rows_a
        self.canon_ulp[a] = _ulp(canon)


def _ulp(values: np.ndarray) -> np.ndarray:
    """Spacing of float32 values (as float64); +inf for zeros, which never round a sum."""
    v = values.astype(np.float32)
    return np.where(v > 0, np.spacing(v).astype(np.float64), np.inf)


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
