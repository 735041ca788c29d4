"""First derivatives (deltas) of frame features, per utterance, and utterance bounds.

Frames of many utterances are stacked in one ``(frames, channels)`` array; ``bounds`` holds the
``n_utts + 1`` offsets of the utterances (utterance ``i`` is rows ``bounds[i]:bounds[i + 1]``).

Delta formula: HTK's regression over a window of ``W = 2`` frames (the one openSMILE's delta
component uses too)::

    d_t = sum_{k=1..W} k * (c_{t+k} - c_{t-k}) / (2 * sum_{k=1..W} k^2)  =  (c_{t+1} - c_{t-1}
          + 2 * (c_{t+2} - c_{t-2})) / 10

Indices outside the utterance are clamped to its first / last frame (edge replication), so an
utterance of one frame has delta 0. A NaN in any frame the formula reads gives a NaN delta
(unvoiced pitch, face gaps): the callers decide how to fill.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affectflow.features.groups import DELTA_SUFFIX

DELTA_WINDOW = 2


def bounds_from_lengths(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """Offsets (``n + 1`` int64, starting at 0) of consecutive utterances of these lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or (lengths < 0).any():
        raise ValueError("lengths must be a 1-D array of non-negative integers")
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def bounds_from_ids(ids: Sequence | np.ndarray) -> np.ndarray:
    """Offsets of the runs of equal consecutive values in a per-frame id column."""
    ids = np.asarray(ids)
    n = len(ids)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    return np.concatenate([[0], change, [n]]).astype(np.int64)


def check_bounds(bounds: np.ndarray, n_frames: int) -> np.ndarray:
    """Validate offsets against a frame count; returns them as int64."""
    b = np.asarray(bounds, dtype=np.int64)
    if b.ndim != 1 or len(b) < 1 or b[0] != 0 or b[-1] != n_frames or (np.diff(b) < 0).any():
        raise ValueError(
            f"bounds must be non-decreasing offsets from 0 to the frame count {n_frames}"
        )
    return b


def segment_ids(bounds: np.ndarray) -> np.ndarray:
    """Utterance number of every frame (int64, length ``bounds[-1]``)."""
    lengths = np.diff(bounds)
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


def deltas(values: np.ndarray, bounds: np.ndarray, window: int = DELTA_WINDOW) -> np.ndarray:
    """Regression deltas of ``values`` (frames x channels), computed within each utterance.

    Same dtype as ``values`` (float); NaN propagates from every frame inside the window.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError("values must be 2-D (frames x channels)")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    n = values.shape[0]
    b = check_bounds(bounds, n)
    norm = 2 * sum(k * k for k in range(1, window + 1))
    out = np.zeros_like(values)
    # interior frames straight from shifted slices (right wherever the window stays inside
    # one utterance) ...
    if n > 2 * window:
        inner = out[window : n - window]
        for k in range(1, window + 1):
            diff = values[window + k : n - window + k] - values[window - k : n - window - k]
            inner += diff * k if k != 1 else diff
    # ... then the frames within `window` of an utterance edge, with clamped indices
    seg = segment_ids(b)
    first = b[:-1][seg]
    last = b[1:][seg] - 1
    rows = np.arange(n, dtype=np.int64)
    edge = np.flatnonzero((rows - first < window) | (last - rows < window))
    if len(edge):
        fix = np.zeros((len(edge), values.shape[1]), dtype=out.dtype)
        for k in range(1, window + 1):
            ahead = np.minimum(edge + k, last[edge])
            behind = np.maximum(edge - k, first[edge])
            diff = values[ahead] - values[behind]
            fix += diff * k if k != 1 else diff
        out[edge] = fix
    out /= norm
    return out


def delta_names(channels: Sequence[str]) -> list[str]:
    """``<channel>_d`` for each channel."""
    return [f"{c}{DELTA_SUFFIX}" for c in channels]


def append_deltas(
    values: np.ndarray, bounds: np.ndarray, channels: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """``[values, deltas(values)]`` side by side, with the channel names ``[c..., c_d...]``."""
    if values.shape[1] != len(channels):
        raise ValueError(f"{values.shape[1]} columns but {len(channels)} channel names")
    d = deltas(values, bounds)
    return np.concatenate([values, d], axis=1), [*channels, *delta_names(channels)]
