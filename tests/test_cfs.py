"""CFS (Weka 3.6 CfsSubsetEval + BestFirst) and its MDL discretisation."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pytest

from affectflow.selection import cfs, mdl
from affectflow.selection.arff import read_arff_nominal_codes, write_arff
from affectflow.selection.cfs import cfs_select, cfs_select_with_merit
from affectflow.selection.mdl import discretize, java_log, mdl_cut_points

WEKA_JAR = Path("/usr/share/java/weka.jar")


def _exact_log(x: float) -> float:
    with localcontext() as ctx:
        ctx.prec = 50
        return float(Decimal(x).ln())


# --------------------------------------------------------------------------- logarithm


def test_java_log_is_correctly_rounded() -> None:
    # Integers where numpy's log is one ulp off on some CPUs, plus random values.
    rng = np.random.default_rng(0)
    values = np.r_[19143.0, 94869.0, 136085.0, 1.0, 2.0, rng.uniform(1e-3, 5e3, 300)]
    got = java_log(values)
    assert [float(g) for g in got] == [_exact_log(float(v)) for v in values]


def test_nlogn_table_matches_definition() -> None:
    table = mdl.nlogn_table(50)
    assert table[0] == 0.0 and table[1] == 0.0
    assert table[8] == 8.0 * _exact_log(8.0)


# --------------------------------------------------------------------------- MDL


def test_mdl_separable_classes_get_one_midpoint_cut() -> None:
    x = np.arange(1.0, 11.0)
    y = np.r_[np.zeros(5, int), np.ones(5, int)]
    assert mdl_cut_points(x, y).tolist() == [5.5]


def test_mdl_no_cut_without_class_signal() -> None:
    x = np.arange(20.0)
    assert mdl_cut_points(x, np.zeros(20, int), 2).size == 0
    # Alternating classes on tied values: the only boundary leaves the entropy unchanged.
    assert mdl_cut_points(np.array([1.0, 1, 2, 2]), np.array([0, 1, 0, 1])).size == 0


def test_mdl_rejects_split_that_does_not_pay_for_itself() -> None:
    # Gain 0.25 bit on 6 instances costs more than it saves; replicated 10x it pays.
    x = np.arange(1.0, 7.0)
    y = np.array([0, 0, 1, 1, 0, 0])
    assert mdl_cut_points(x, y).size == 0
    assert mdl_cut_points(np.repeat(x, 10), np.repeat(y, 10)).tolist() == [2.5, 4.5]


def test_mdl_ignores_missing_values_and_bins_like_weka() -> None:
    x = np.array([1.0, 2, 3, 4, np.nan, 5, 6, 7, 8, np.nan])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    cuts = mdl_cut_points(x, y)
    assert cuts.tolist() == [4.5]
    codes = mdl.apply_cut_points(np.array([4.5, 4.6, np.nan, -1.0]), cuts)
    assert codes.tolist() == [0, 1, -1, 0]  # x <= cut falls into the lower bin


def test_discretize_matrix_equals_column_by_column() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)
    X = np.round(rng.normal(size=(200, 12)) + y[:, None] * rng.uniform(0, 1, 12), 1)
    X[rng.random(X.shape) < 0.05] = np.nan
    disc = discretize(X, y)
    for j in range(X.shape[1]):
        assert np.array_equal(disc.cut_points[j], mdl_cut_points(X[:, j], y, 3))
        assert np.array_equal(disc.codes[:, j], mdl.apply_cut_points(X[:, j], disc.cut_points[j]))
    assert disc.n_bins.tolist() == [c.size + 1 for c in disc.cut_points]


# --------------------------------------------------------------------------- SU


def _su_reference(table: np.ndarray) -> float:
    """2 * I(X;Y) / (H(X) + H(Y)) from the textbook formula."""
    p = table / table.sum()

    def h(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    hx, hy, hxy = h(p.sum(axis=1)), h(p.sum(axis=0)), h(p.ravel())
    return 2.0 * (hx + hy - hxy) / (hx + hy)


@pytest.mark.parametrize(
    "table, expected",
    [
        ([[10, 0], [0, 10]], 1.0),
        ([[5, 5], [5, 5]], 0.0),
        ([[7, 7, 7]], 0.0),  # one row: no entropy on that side
        ([[3, 1], [1, 3]], None),
        ([[4, 0, 2], [1, 5, 0], [2, 2, 9]], None),
    ],
)
def test_symmetrical_uncertainty(table: list[list[int]], expected: float | None) -> None:
    arr = np.asarray(table, dtype=np.float64)
    ln = cfs._LnFunc(int(arr.sum()))
    got = float(cfs.symmetrical_uncertainty(arr[None], ln, integral=True)[0])
    want = _su_reference(arr) if expected is None else expected
    assert got == pytest.approx(want, abs=1e-12)
    assert float(cfs.symmetrical_uncertainty(arr.T[None], ln, integral=True)[0]) == (
        pytest.approx(got, abs=1e-15)
    )


def test_missing_counts_are_spread_in_proportion() -> None:
    # Last row/column = missing. Worked by hand from CfsSubsetEval.symmUncertCorr.
    table = np.array([[[2.0, 0, 1], [0, 2, 0], [1, 0, 0]]])
    got = cfs.distribute_missing(table, 6)[0]
    assert np.allclose(got, [[3.2, 0.4, 0], [0.4, 2, 0], [0, 0, 0]], atol=1e-15)
    all_missing = np.array([[[0.0, 0, 0], [0, 0, 0], [1, 2, 3]]])
    assert np.array_equal(cfs.distribute_missing(all_missing, 6), all_missing)


def test_constant_feature_correlations_follow_weka_rules() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    X = np.c_[y + rng.normal(0, 0.3, 300), np.full(300, 4.0), y + rng.normal(0, 0.5, 300)]
    disc = discretize(X, y)
    corr = cfs._Correlations(disc, y, 2)
    assert corr.class_r[1] == 0.0 and corr.class_r[0] > 0.3  # class side: ~0 -> 0
    corr.compute_row(0)
    assert corr.canon[0][1] == 1.0  # feature side: ~0 -> 1 (maximally redundant)
    assert 0.0 < corr.canon[0][2] < 1.0
    assert corr.canon[0].dtype == np.float32  # Weka stores correlations as floats


# --------------------------------------------------------------------------- merit & search


def _weka_evaluate_subset(members: list[int], r_cf: np.ndarray, r: np.ndarray) -> float:
    """Line-by-line CfsSubsetEval.evaluateSubset with unit standard deviations."""
    num = 0.0
    for i in members:
        num += float(r_cf[i])
    denom = 0.0
    for i in members:
        denom += 1.0
        for j in members:
            if j < i:
                denom += 2.0 * float(r[max(i, j), min(i, j)])
    return 0.0 if denom == 0.0 else abs(num / math.sqrt(abs(denom)))


def test_ordered_merits_replays_weka_summation_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    m = 60
    r = rng.uniform(1e-6, 1.0, (m, m)).astype(np.float32)
    r = np.tril(r) + np.tril(r, -1).T
    r_cf = rng.uniform(0, 1, m).astype(np.float32).astype(np.float64)
    for k in (0, 1, 5, 17):
        subset = np.sort(rng.choice(m, k, replace=False))
        cands = np.setdiff1d(np.arange(m), subset)
        rows = r[subset].astype(np.float64)
        got = cfs.ordered_merits(subset, cands, r_cf, rows)
        want = [_weka_evaluate_subset(sorted([*subset.tolist(), j]), r_cf, r) for j in cands]
        assert got.tolist() == want


def _weka_add_to_list(lst: list[tuple[float, int]], item: tuple[float, int], size: int) -> None:
    """Line-by-line BestFirst.LinkedList2.addToList."""
    mer = item[0]
    if not lst:
        lst.append(item)
    elif mer > lst[0][0]:
        if len(lst) == size:
            lst.pop(size - 1)
        lst.insert(0, item)
    elif not (len(lst) == size and mer <= lst[-1][0]):
        n = len(lst)
        for i in range(n):
            if mer > lst[i][0]:
                if n == size:
                    lst.pop(size - 1)
                lst.insert(i, item)
                break
            if i == n - 1:
                lst.append(item)
                break


def test_open_list_batch_matches_sequential_insertion() -> None:
    rng = np.random.default_rng(11)
    for trial in range(200):
        start = sorted(rng.integers(0, 4, rng.integers(0, 6)).tolist(), reverse=True)
        lst_ref = [(float(v), -1 - i) for i, v in enumerate(start)]
        merits = rng.integers(0, 5, rng.integers(1, 12)).astype(float)
        for t, mer in enumerate(merits.tolist()):
            _weka_add_to_list(lst_ref, (mer, t), cfs.MAX_STALE)
        got = cfs._add_to_open_list(
            [(float(v), (-1 - i,)) for i, v in enumerate(start)],
            merits,
            [(t,) for t in range(merits.size)],
        )
        assert [(mer, s[0]) for mer, s in got] == lst_ref, trial


def _structured_problem(seed: int, n: int, m: int, n_classes: int, missing: float = 0.0):
    """Correlated blocks (some informative), duplicates, a negated copy, constants, noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    cols = []
    while len(cols) < m:
        latent = rng.normal(size=n)
        if rng.random() < 0.4:
            latent = latent + rng.uniform(0.3, 1.5) * (y == rng.integers(0, n_classes))
        for _ in range(int(rng.integers(1, 7))):
            cols.append(latent * rng.uniform(0.3, 1) + rng.normal(size=n) * rng.uniform(0.2, 1.5))
    X = np.round(np.column_stack(cols[:m]), int(rng.integers(1, 4)))
    X[:, rng.choice(m, 4, replace=False)] = X[:, rng.choice(m, 4, replace=False)]
    X[:, rng.integers(m)] = -X[:, rng.integers(m)]
    X[:, rng.choice(m, 3, replace=False)] = 1.5
    X[:, -5:] = np.round(rng.normal(size=(n, 5)), 2)  # pure noise
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, y


def test_slow_exact_path_selects_the_same_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _structured_problem(5, 250, 50, 3)
    fast = cfs_select_with_merit(X, y)
    monkeypatch.setattr(cfs, "_EXACT_LIMIT", 0.0)  # every candidate takes the ordered path
    assert cfs_select_with_merit(X, y) == fast


def test_api_contract() -> None:
    X, y = _structured_problem(2, 200, 30, 2)
    chosen, merit = cfs_select_with_merit(X, y)
    assert chosen == sorted(chosen) and all(isinstance(i, int) for i in chosen)
    assert chosen == cfs_select(X, y) and 0.0 < merit <= 1.0
    assert cfs_select(np.zeros((5, 0)), np.zeros(5, int)) == []
    with pytest.raises(ValueError):
        cfs_select(X, y[:-1])
    with pytest.raises(ValueError):
        cfs_select(X, y.astype(float))
    with pytest.raises(ValueError):
        cfs_select(X, y, search_termination=0)


def test_informative_features_are_found() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    signal = np.c_[y + rng.normal(0, 0.4, 400), (y == 1) + rng.normal(0, 0.3, 400)]
    X = np.c_[rng.normal(size=(400, 10)), signal, signal[:, :1] * 2.0]
    chosen = cfs_select(np.round(X, 3), y)
    assert {10, 11} <= set(chosen)
    assert not {10, 12} <= set(chosen)  # the exact rescaled copy is redundant


# --------------------------------------------------------------------------- Weka parity


def _require_weka() -> None:
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH: Weka parity needs Java (apt-get install weka)")
    if not WEKA_JAR.exists():
        pytest.skip(f"{WEKA_JAR} is missing: Weka parity needs Debian's weka package")


def _weka_cfs(arff: Path, stale: int = 5) -> tuple[list[int], float]:
    cmd = [
        "java",
        "-cp",
        str(WEKA_JAR),
        "weka.attributeSelection.CfsSubsetEval",
        "-s",
        f"weka.attributeSelection.BestFirst -D 1 -N {stale}",
        "-i",
        str(arff),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    sel = re.search(r"Selected attributes: ([\d,]*) : \d+", out)
    merit = re.search(r"Merit of best subset found:\s*([\d.]+)", out)
    assert sel and merit, out
    return [int(s) - 1 for s in sel.group(1).split(",") if s], float(merit.group(1))


PARITY_CASES = [  # seed, instances, features, classes, missing fraction
    (0, 300, 40, 2, 0.0),
    (1, 300, 80, 3, 0.0),
    (2, 250, 120, 4, 0.0),
    (3, 300, 60, 5, 0.0),
    (4, 150, 100, 3, 0.03),
    (5, 400, 50, 2, 0.02),
    (6, 80, 40, 4, 0.0),
    (7, 300, 120, 3, 0.0),
]


@pytest.mark.weka
@pytest.mark.parametrize("seed, n, m, n_classes, missing", PARITY_CASES)
def test_same_subset_as_weka(
    tmp_path: Path, seed: int, n: int, m: int, n_classes: int, missing: float
) -> None:
    _require_weka()
    X, y = _structured_problem(seed, n, m, n_classes, missing)
    ours, merit = cfs_select_with_merit(X, y)
    weka, weka_merit = _weka_cfs(write_arff(tmp_path / "data.arff", X, y))
    assert ours == weka
    assert merit == pytest.approx(weka_merit, abs=5e-4)  # Weka prints 3 decimals


@pytest.mark.weka
def test_same_discretisation_as_weka(tmp_path: Path) -> None:
    _require_weka()
    X, y = _structured_problem(9, 300, 40, 3, missing=0.03)
    X[:, 0] = np.round(X[:, 0])  # heavy ties
    arff = write_arff(tmp_path / "in.arff", X, y)
    out = tmp_path / "out.arff"
    subprocess.run(
        [
            "java",
            "-cp",
            str(WEKA_JAR),
            "weka.filters.supervised.attribute.Discretize",
            "-E",
            "-R",
            "first-last",
            "-c",
            "last",
            "-i",
            str(arff),
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    weka_codes = read_arff_nominal_codes(out)[:, :-1]
    assert np.array_equal(discretize(X, y).codes, weka_codes)


@pytest.mark.weka
@pytest.mark.parametrize("stale", [1, 3, 8])
def test_same_subset_as_weka_for_other_search_terminations(tmp_path: Path, stale: int) -> None:
    _require_weka()
    X, y = _structured_problem(10 + stale, 250, 80, 3)
    ours = cfs_select(X, y, search_termination=stale)
    assert ours == _weka_cfs(write_arff(tmp_path / "data.arff", X, y), stale)[0]
