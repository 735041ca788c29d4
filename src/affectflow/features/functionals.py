"""Utterance-level statistical functionals of frame features (openEAR style, paper section 3.1).

Input: frames of many utterances stacked in a ``(frames, channels)`` array plus ``bounds``, the
``n_utts + 1`` offsets of the utterances (see :mod:`affectflow.features.deltas`). Output: one
row per utterance, columns ``<channel>__<functional>`` in channel-major order.

Functionals (24 per channel, :data:`FUNCTIONALS`), over the valid (non-NaN) frames of a channel,
``t`` being the frame's index within the utterance (0-based; NaN frames keep their index):

- ``mean``, ``std`` (population, ddof 0), ``skewness`` (m3 / m2^1.5), ``kurtosis`` (Pearson,
  m4 / m2^2, not excess); skewness and kurtosis are 0 for a constant channel;
- ``linreg_slope``, ``linreg_offset`` (value at t = 0), ``linreg_mse`` (mean squared residual)
  of the least-squares line x ~ slope * t + offset;
- ``qreg_a``, ``qreg_b``, ``qreg_c``, ``qreg_mse`` of the least-squares parabola
  x ~ a t^2 + b t + c (with 2 valid frames a = 0 and the line is used; with 1, only c);
- ``min``, ``max``, ``range``, ``minpos``, ``maxpos``: the relative position
  t / (n_frames - 1) in 0..1 of the first minimum / maximum (0 for a one-frame utterance);
- ``quartile1..3``, ``iqr1_2``, ``iqr2_3``, ``iqr1_3``, ``percentile1``, ``percentile99``:
  quantiles with linear interpolation between order statistics, i.e. ``np.percentile``'s
  default ``method="linear"`` (Hyndman-Fan type 7).

NaN frames (unvoiced pitch and its delta, long face gaps) are left out of that channel's
functionals. An utterance without a single valid frame in a channel has no value for any of that
channel's functionals: they are :data:`MISSING` (NaN) and stay so in ``functionals.parquet``;
such utterances are counted (:func:`empty_counts`, ``DataFrame.attrs["empty_utterances"]``).
Filling them is a per-fold decision that needs the fold's training rows
(:mod:`affectflow.impute`), not a constant: no single value is right for every channel (face
coordinates are only speaker-mean-shifted, so 0 mm can lie 100 standard deviations away).

Speed: utterances are grouped by similar length into blocks that are padded with NaN into a
``(channels, utterances, max_length)`` array; every functional is then a reduction along the
last axis (quantiles from one ``np.sort``, which puts NaN last). No Python loop touches frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from affectflow.features.deltas import check_bounds

FUNCTIONALS: tuple[str, ...] = (
    "mean", "std", "skewness", "kurtosis",
    "linreg_slope", "linreg_offset", "linreg_mse",
    "qreg_a", "qreg_b", "qreg_c", "qreg_mse",
    "min", "max", "range", "minpos", "maxpos",
    "quartile1", "quartile2", "quartile3", "iqr1_2", "iqr2_3", "iqr1_3",
    "percentile1", "percentile99",
)  # fmt: skip
#: Value of every functional of a channel without a single valid frame in the utterance.
MISSING = np.nan
#: Frames (padded) per block times channels bounds the working memory (~8 bytes each, x ~8).
BLOCK_FRAMES = 32_768
_PAD_RATIO = 1.25  # a block's longest utterance is at most this much longer than its shortest
_PAD_SLACK = 16


def functional_names(channels: Sequence[str]) -> list[str]:
    """Column names ``<channel>__<functional>``, channel-major."""
    return [f"{c}__{f}" for c in channels for f in FUNCTIONALS]


def compute_functionals(
    values: np.ndarray,
    bounds: np.ndarray,
    channels: Sequence[str],
    *,
    block_frames: int = BLOCK_FRAMES,
) -> tuple[np.ndarray, list[str]]:
    """Functionals of every utterance: ``(utts x channels * 24)`` float64 and column names."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(channels):
        raise ValueError(f"values must be (frames x {len(channels)}), got {values.shape}")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    b = check_bounds(bounds, values.shape[0])
    lengths = np.diff(b)
    n_utts, n_ch, n_fun = len(lengths), values.shape[1], len(FUNCTIONALS)
    out = np.full((n_utts, n_ch, n_fun), MISSING, dtype=np.float64)
    for utts in _length_blocks(lengths, max(1, block_frames)):
        if lengths[utts].max() == 0:
            continue  # empty utterances stay missing
        block = _padded_block(values, b[utts], lengths[utts])
        out[utts] = _block_functionals(block, lengths[utts]).transpose(1, 0, 2)
    return out.reshape(n_utts, n_ch * n_fun), functional_names(channels)


def valid_counts(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Number of non-NaN frames per utterance and channel, ``(utts x channels)`` int64."""
    values = np.asarray(values)
    b = check_bounds(bounds, values.shape[0])
    lengths = np.diff(b)
    counts = np.zeros((len(lengths), values.shape[1]), dtype=np.int64)
    nonempty = lengths > 0
    if nonempty.any():
        valid = ~np.isnan(values)
        counts[nonempty] = np.add.reduceat(valid, b[:-1][nonempty], axis=0, dtype=np.int64)
    return counts


def empty_counts(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Per channel, how many utterances have no valid frame (so all their functionals are NaN)."""
    return (valid_counts(values, bounds) == 0).sum(axis=0)


def functionals_frame(
    values: np.ndarray,
    bounds: np.ndarray,
    channels: Sequence[str],
    utt_ids: Sequence[str],
    *,
    dtype: type = np.float32,
) -> pd.DataFrame:
    """:func:`compute_functionals` as a DataFrame: ``utt_id`` + one column per functional.

    ``attrs["empty_utterances"]`` maps each channel with empty utterances to their count.
    """
    if len(utt_ids) != len(bounds) - 1:
        raise ValueError(f"{len(utt_ids)} utterance ids for {len(bounds) - 1} utterances")
    feats, names = compute_functionals(values, bounds, channels)
    df = pd.DataFrame(feats.astype(dtype, copy=False), columns=names)
    df.insert(0, "utt_id", pd.Series(list(utt_ids), dtype=object))
    empty = empty_counts(values, bounds)
    df.attrs["empty_utterances"] = {c: int(n) for c, n in zip(channels, empty, strict=True) if n}
    return df


def _length_blocks(lengths: np.ndarray, block_frames: int) -> Iterator[np.ndarray]:
    """Groups of utterance indices of similar length whose padded size fits ``block_frames``."""
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order]
    i, n = 0, len(order)
    while i < n:
        shortest = int(sorted_len[i])
        limit = max(shortest * _PAD_RATIO, shortest + _PAD_SLACK)
        j = int(np.searchsorted(sorted_len, limit, side="right"))
        longest = max(1, int(sorted_len[j - 1]))
        j = min(j, i + max(1, block_frames // longest))
        yield order[i:j]
        i = j


def _padded_block(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(channels, utts, max_len)`` copy of the utterances' frames, NaN after each end."""
    width = int(lengths.max())
    pos = np.arange(width)
    inside = pos[None, :] < lengths[:, None]
    rows = np.where(inside, starts[:, None] + pos[None, :], 0)
    block = values[rows]  # (utts, width, channels)
    block[~inside] = np.nan
    return np.ascontiguousarray(block.transpose(2, 0, 1))


def _block_functionals(x: np.ndarray, n_frames: np.ndarray) -> np.ndarray:
    """All functionals of a padded block ``(C, U, L)``; returns ``(C, U, 24)``."""
    valid = ~np.isnan(x)
    count = valid.sum(axis=-1)
    n = count.astype(np.float64)
    n_safe = np.maximum(n, 1.0)
    x0 = x.astype(np.float64)  # NaN frames set to 0 so that plain sums skip them
    np.copyto(x0, 0.0, where=~valid)
    t = np.arange(x.shape[-1], dtype=np.float64)

    # moments
    total = x0.sum(axis=-1)
    mean = total / n_safe
    dev = np.where(valid, x0 - mean[..., None], 0.0)
    dev2 = dev * dev
    m2 = dev2.sum(axis=-1) / n_safe
    m3 = (dev2 * dev).sum(axis=-1) / n_safe
    m4 = (dev2 * dev2).sum(axis=-1) / n_safe
    del dev, dev2
    std = np.sqrt(m2)
    flat = m2 <= (1e-9 * np.abs(mean)) ** 2
    m2_safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / m2_safe**1.5)
    kurt = np.where(flat, 0.0, m4 / m2_safe**2)

    # regressions in a centred, scaled time u = (t - t_mean) / s for conditioning
    t_mean = np.where(valid, t, 0.0).sum(axis=-1) / n_safe
    scale = np.maximum(1.0, (n_frames.astype(np.float64) - 1.0) / 2.0)[None, :]
    u = np.where(valid, (t - t_mean[..., None]) / scale[..., None], 0.0)
    u2 = u * u
    s2 = u2.sum(axis=-1)
    s3 = (u2 * u).sum(axis=-1)
    s4 = (u2 * u2).sum(axis=-1)
    r1 = (x0 * u).sum(axis=-1)
    r2 = (x0 * u2).sum(axis=-1)
    s2_safe = np.where(s2 > 0, s2, 1.0)
    lin_b = np.where(s2 > 0, r1 / s2_safe, 0.0)
    lin_c = mean
    resid = np.where(valid, x0 - lin_b[..., None] * u - lin_c[..., None], 0.0)
    lin_mse = (resid * resid).sum(axis=-1) / n_safe
    det = s4 - s3 * s3 / s2_safe - s2 * s2 / n_safe
    solvable = (count >= 3) & (det > 1e-12 * np.maximum(s4, 1e-300))
    det_safe = np.where(solvable, det, 1.0)
    q_a = np.where(solvable, (r2 - s3 * r1 / s2_safe - s2 * total / n_safe) / det_safe, 0.0)
    q_b = np.where(s2 > 0, (r1 - s3 * q_a) / s2_safe, 0.0)
    q_c = (total - s2 * q_a) / n_safe
    resid = np.where(valid, x0 - q_a[..., None] * u2 - q_b[..., None] * u - q_c[..., None], 0.0)
    q_mse = (resid * resid).sum(axis=-1) / n_safe
    del resid, u, u2
    # back to frame-index time t = s * u + t_mean
    slope = lin_b / scale
    offset = lin_c - slope * t_mean
    qa = q_a / scale**2
    qb = q_b / scale - 2.0 * q_a * t_mean / scale**2
    qc = q_a * t_mean**2 / scale**2 - q_b * t_mean / scale + q_c

    # extremes and their relative positions (first occurrence)
    denom = np.maximum(n_frames - 1, 1).astype(np.float64)[None, :]
    minpos = np.argmin(np.where(valid, x, np.inf), axis=-1) / denom
    maxpos = np.argmax(np.where(valid, x, -np.inf), axis=-1) / denom
    del x0, valid

    # order statistics: np.sort puts NaN (gaps and padding) last
    srt = np.sort(x, axis=-1)
    last = np.maximum(count - 1, 0)

    def order_stat(k: np.ndarray) -> np.ndarray:
        return np.take_along_axis(srt, k[..., None], axis=-1)[..., 0].astype(np.float64)

    vmin, vmax = order_stat(np.zeros_like(last)), order_stat(last)

    def quantile(p: float) -> np.ndarray:
        h = last * p
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        a, b = order_stat(lo), order_stat(hi)
        return a + (h - lo) * (b - a)

    q1, q2, q3 = quantile(0.25), quantile(0.5), quantile(0.75)
    p1, p99 = quantile(0.01), quantile(0.99)

    out = np.stack(
        [
            mean, std, skew, kurt,
            slope, offset, lin_mse,
            qa, qb, qc, q_mse,
            vmin, vmax, vmax - vmin, minpos, maxpos,
            q1, q2, q3, q2 - q1, q3 - q2, q3 - q1,
            p1, p99,
        ],
        axis=-1,
    )  # fmt: skip
    out[count == 0] = MISSING
    return out
