"""Feature correlations of :mod:`affectflow.selection.cfs`: Weka's symmetrical uncertainty
with its missing-value handling, computed a whole row of feature pairs at a time.

Separate from the merit computation and the BestFirst search, which only read the
correlations this module provides (bit-identical to Weka's ``CfsSubsetEval``; see the docstring
of :mod:`affectflow.selection.cfs`).
"""

from __future__ import annotations

import numpy as np

from affectflow.selection.mdl import Discretization, java_log, nlogn_table

SMALL = 1e-6  # weka.core.Utils.SMALL


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
