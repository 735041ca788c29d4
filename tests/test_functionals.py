"""Utterance functionals and deltas against straightforward per-utterance reference formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from affectflow.features.deltas import (
    append_deltas,
    bounds_from_ids,
    bounds_from_lengths,
    deltas,
)
from affectflow.features.functionals import (
    FUNCTIONALS,
    MISSING,
    compute_functionals,
    empty_counts,
    functionals_frame,
    valid_counts,
)


def reference_functionals(x: np.ndarray) -> dict[str, float]:
    """One utterance, one channel, the slow way (NaN frames left out, t kept)."""
    n_frames = len(x)
    t = np.arange(n_frames, dtype=np.float64)
    ok = ~np.isnan(x)
    v, tv = x[ok].astype(np.float64), t[ok]
    if len(v) == 0:
        return dict.fromkeys(FUNCTIONALS, MISSING)
    if len(v) >= 2:
        slope, offset = np.polyfit(tv, v, 1)
    else:
        slope, offset = 0.0, v[0]
    if len(v) >= 3:
        qa, qb, qc = np.polyfit(tv, v, 2)
    else:
        qa, qb, qc = 0.0, slope, offset
    q1, q2, q3, p1, p99 = np.percentile(v, [25, 50, 75, 1, 99])
    denom = max(n_frames - 1, 1)
    return {
        "mean": np.mean(v),
        "std": np.std(v),
        "skewness": stats.skew(v) if np.std(v) > 0 else 0.0,
        "kurtosis": stats.kurtosis(v, fisher=False) if np.std(v) > 0 else 0.0,
        "linreg_slope": slope,
        "linreg_offset": offset,
        "linreg_mse": np.mean((v - (slope * tv + offset)) ** 2),
        "qreg_a": qa,
        "qreg_b": qb,
        "qreg_c": qc,
        "qreg_mse": np.mean((v - (qa * tv**2 + qb * tv + qc)) ** 2),
        "min": v.min(),
        "max": v.max(),
        "range": v.max() - v.min(),
        "minpos": tv[np.argmin(v)] / denom,
        "maxpos": tv[np.argmax(v)] / denom,
        "quartile1": q1,
        "quartile2": q2,
        "quartile3": q3,
        "iqr1_2": q2 - q1,
        "iqr2_3": q3 - q2,
        "iqr1_3": q3 - q1,
        "percentile1": p1,
        "percentile99": p99,
    }


@pytest.fixture(scope="module")
def random_frames() -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(7)
    lengths = np.concatenate([[1, 2, 3, 4], rng.integers(5, 400, size=60)])
    rng.shuffle(lengths)
    bounds = bounds_from_lengths(lengths)
    n = int(bounds[-1])
    t = np.arange(n)
    values = np.stack(
        [
            rng.normal(size=n),
            np.sin(t / 7.0) * 3 + rng.normal(scale=0.1, size=n),
            rng.exponential(size=n) + 100.0,  # skewed, far from 0
            (t % 13).astype(float) * 2.5,  # many ties
        ],
        axis=1,
    ).astype(np.float32)
    # unvoiced-style NaN runs in channel 0, isolated NaN in channel 1, one channel all NaN
    # for a whole utterance
    values[rng.random(n) < 0.3, 0] = np.nan
    values[rng.random(n) < 0.05, 1] = np.nan
    values[bounds[5] : bounds[6], 2] = np.nan
    return values, bounds, ["a", "b", "c", "d"]


def test_functionals_match_reference(random_frames) -> None:
    values, bounds, channels = random_frames
    # small blocks force many padded blocks of different widths
    got, names = compute_functionals(values, bounds, channels, block_frames=2000)
    assert got.shape == (len(bounds) - 1, len(channels) * len(FUNCTIONALS))
    assert names[:2] == ["a__mean", "a__std"] and names[-1] == "d__percentile99"
    col = {name: i for i, name in enumerate(names)}
    checked = 0
    for u in range(len(bounds) - 1):
        for c, ch in enumerate(channels):
            ref = reference_functionals(values[bounds[u] : bounds[u + 1], c])
            for f, expected in ref.items():
                value = got[u, col[f"{ch}__{f}"]]
                if np.isnan(expected):  # no valid frame: every functional is missing
                    assert np.isnan(value), (u, ch, f)
                    checked += 1
                    continue
                scale = 1.0 + abs(ref["mean"]) + ref["std"]
                if f.startswith("qreg") or f.startswith("linreg"):
                    n = bounds[u + 1] - bounds[u]
                    scale *= {"qreg_a": 1.0 / n**2, "qreg_b": 1.0 / n}.get(f, 1.0)
                    if f == "linreg_slope":
                        scale /= n
                assert value == pytest.approx(expected, abs=1e-6 * scale, rel=1e-5), (u, ch, f)
                checked += 1
    assert checked == got.size


def test_block_size_does_not_change_results(random_frames) -> None:
    values, bounds, channels = random_frames
    small, _ = compute_functionals(values, bounds, channels, block_frames=1)
    large, _ = compute_functionals(values, bounds, channels, block_frames=10**7)
    np.testing.assert_allclose(small, large, rtol=1e-9, atol=1e-9)


def test_empty_utterances_are_missing_and_counted(random_frames) -> None:
    """A channel without a valid frame has no functional value (NaN, imputed per fold later);
    the other channels of that utterance and that channel in other utterances are computed."""
    values, bounds, channels = random_frames
    got, names = compute_functionals(values, bounds, channels)
    c_cols = [i for i, nm in enumerate(names) if nm.startswith("c__")]
    assert np.all(np.isnan(got[5, c_cols]))
    other = [i for i, nm in enumerate(names) if not nm.startswith("c__")]
    assert not np.isnan(got[5, other]).any()
    assert not np.isnan(got[4, c_cols]).any()
    counts = valid_counts(values, bounds)
    assert counts[5, 2] == 0 and counts[5, 3] == bounds[6] - bounds[5]
    empty = empty_counts(values, bounds)
    assert empty[2] >= 1 and empty[3] == 0
    assert np.array_equal(empty, (counts == 0).sum(axis=0))


def test_constant_and_short_utterances() -> None:
    values = np.array([[2.0], [2.0], [2.0], [5.0], [1.0], [3.0]], dtype=np.float32)
    bounds = bounds_from_lengths([3, 1, 2])
    got, names = compute_functionals(values, bounds, ["x"])
    row = dict(zip(names, got[0], strict=True))
    assert row["x__std"] == 0 and row["x__skewness"] == 0 and row["x__kurtosis"] == 0
    assert row["x__linreg_slope"] == pytest.approx(0.0, abs=1e-12)
    one = dict(zip(names, got[1], strict=True))
    assert one["x__mean"] == 5 and one["x__linreg_offset"] == 5 and one["x__minpos"] == 0
    two = dict(zip(names, got[2], strict=True))
    assert two["x__linreg_slope"] == pytest.approx(2.0)
    assert two["x__qreg_a"] == 0 and two["x__qreg_b"] == pytest.approx(2.0)
    assert two["x__qreg_mse"] == pytest.approx(0.0, abs=1e-12)
    assert two["x__maxpos"] == 1.0


def test_functionals_frame(random_frames) -> None:
    values, bounds, channels = random_frames
    ids = [f"u{i}" for i in range(len(bounds) - 1)]
    df = functionals_frame(values, bounds, channels, ids)
    assert list(df.columns[:2]) == ["utt_id", "a__mean"]
    assert df["utt_id"].tolist() == ids
    assert df.shape[1] == 1 + 4 * len(FUNCTIONALS)
    assert df.attrs["empty_utterances"]["c"] >= 1


def reference_deltas(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    start = 0
    for n in lengths:
        seg = x[start : start + n]
        for i in range(n):

            def at(k: int, seg=seg, i=i, n=n) -> np.ndarray:
                return seg[min(max(i + k, 0), n - 1)]

            out[start + i] = (at(1) - at(-1) + 2 * (at(2) - at(-2))) / 10.0
        start += n
    return out


def test_deltas_match_loop_reference() -> None:
    rng = np.random.default_rng(3)
    lengths = np.array([1, 2, 3, 5, 17, 40])
    bounds = bounds_from_lengths(lengths)
    x = rng.normal(size=(int(bounds[-1]), 3))
    x[10, 1] = np.nan
    got = deltas(x, bounds)
    ref = reference_deltas(x, lengths)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    # the NaN reaches exactly the frames whose window reads frame 10 (same utterance: 6..10)
    assert set(np.flatnonzero(np.isnan(got[:, 1]))) == {8, 9, 10}
    assert np.all(got[0] == 0)  # one-frame utterance
    for short in ([1], [2], [1, 2], [4], [3, 2]):  # no interior frames at all
        xs = rng.normal(size=(sum(short), 2)).astype(np.float32)
        ds = deltas(xs, bounds_from_lengths(short))
        assert ds.dtype == np.float32
        np.testing.assert_allclose(ds, reference_deltas(xs, np.array(short)), rtol=1e-6)
    stacked, names = append_deltas(x, bounds, ["p", "q", "r"])
    assert names == ["p", "q", "r", "p_d", "q_d", "r_d"] and stacked.shape == (len(x), 6)


@pytest.mark.bench
def test_functionals_at_fold_scale_under_30_cpu_seconds() -> None:
    """A fold at IEMOCAP scale (5k utterances, ~0.9 M frames, 142 channels) on one core."""
    import importlib.util
    import time
    from pathlib import Path

    from threadpoolctl import threadpool_limits

    path = Path(__file__).parents[1] / "benchmarks" / "bench_functionals.py"
    spec = importlib.util.spec_from_file_location("bench_functionals", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    values, bounds = bench.synthetic_fold(5000)
    with threadpool_limits(limits=1):
        start = time.process_time()
        feats, _ = compute_functionals(values, bounds, [f"c{i}" for i in range(values.shape[1])])
        cpu = time.process_time() - start
    assert feats.shape == (5000, 142 * len(FUNCTIONALS)) and not np.isinf(feats).any()
    missing = np.isnan(feats).reshape(5000, 142, len(FUNCTIONALS))
    empty = valid_counts(values, bounds) == 0  # only channels without a valid frame are NaN
    assert np.array_equal(missing.any(axis=-1), empty) and np.array_equal(missing.all(-1), empty)
    assert cpu < 30.0


def test_bounds_helpers() -> None:
    ids = pd.Series(["a", "a", "b", "c", "c", "c"]).to_numpy()
    assert bounds_from_ids(ids).tolist() == [0, 2, 3, 6]
    assert bounds_from_lengths([2, 1, 3]).tolist() == [0, 2, 3, 6]
