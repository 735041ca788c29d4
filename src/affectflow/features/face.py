"""Face low-level descriptors: the 46 face markers relative to the nose tip, on the audio grid.

Per utterance, from its MOCAP_rotated file (120 fps):

1. Keep TNOSE and the 46 :data:`~affectflow.corpus.layout.FACE_MARKERS` (138 coordinates; the
   nose, eyelid and head markers are dropped).
2. Fill gaps: a run of up to ``max_gap_frames`` missing frames between two present ones is
   linearly interpolated, per coordinate (TNOSE included). Longer runs, and runs at the start or
   end of the file, stay NaN and are counted.
3. Subtract TNOSE from every marker, per frame. Where TNOSE is still missing (a long gap), the
   frame's coordinates are NaN: without the origin they are undefined. A file whose TNOSE is
   missing in every frame (a marker dropout over a short utterance, which IEMOCAP has) is
   missing data, not a malformed file: all its frames are NaN and its coverage says
   ``complete`` 0; later stages fill such utterances by their documented NaN policy.
4. Average the 120 fps frames inside each 50 ms grid window (frame ``k`` takes the mocap
   frames at ``i / 120`` s in ``[0.025 k, 0.025 k + 0.05)``, i.e. 6 of them), ignoring NaN; a
   window with no present value for a coordinate stays NaN. The grid length comes from the wav
   duration, so audio and face have the same frames; grid frames past the end of a shorter
   mocap file are NaN and counted as trailing.

Coverage per utterance (stored in the Parquet file metadata as ``{"coverage": {utt_id: ...}}``):
``frames`` (grid frames), ``complete`` (fraction with all 138 coordinates present),
``gap_frames`` (frames within the mocap with some coordinate NaN), ``trailing_frames``,
``mocap_frames`` and ``interpolated`` (coordinate values filled in step 2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectflow.corpus.layout import FACE_MARKERS, MOCAP_FPS, ORIGIN_MARKER
from affectflow.features import grid
from affectflow.features.groups import FACE_COORDS
from affectflow.features.mocap import Mocap, read_mocap
from affectflow.features.wav import validate_wav

logger = logging.getLogger(__name__)

DEFAULT_MAX_GAP_FRAMES = 12  # 0.1 s at 120 fps
FACE_SCHEMA = grid.frame_schema(FACE_COORDS)
_REQUIRED = (ORIGIN_MARKER, *FACE_MARKERS)


def interpolate_gaps(values: np.ndarray, max_gap: int) -> tuple[np.ndarray, int]:
    """Linearly fill NaN runs of at most ``max_gap`` rows between present rows, per column.

    Returns the filled copy and the number of values filled.
    """
    out = values.copy()
    missing = np.isnan(values)
    if max_gap <= 0 or not missing.any():
        return out, 0
    n = values.shape[0]
    rows = np.arange(n)[:, None]
    prev = np.maximum.accumulate(np.where(missing, -1, rows), axis=0)
    nxt = np.minimum.accumulate(np.where(missing, n, rows)[::-1], axis=0)[::-1]
    fill = missing & (prev >= 0) & (nxt < n) & (nxt - prev - 1 <= max_gap)
    r, c = np.nonzero(fill)
    p, q = prev[r, c], nxt[r, c]
    w = (r - p) / (q - p)
    out[r, c] = values[p, c] * (1.0 - w) + values[q, c] * w
    return out, int(r.size)


def window_means(values: np.ndarray, n: int, rate: float = MOCAP_FPS) -> np.ndarray:
    """Mean of the rows (sampled at ``rate`` Hz) inside each of ``n`` grid windows, NaN ignored.

    Vectorised with cumulative sums of values and of present-value counts.
    """
    lo, hi = grid.window_rows(n, rate, values.shape[0])
    present = ~np.isnan(values)
    zero = np.zeros((1, values.shape[1]))
    sums = np.vstack([zero, np.cumsum(np.where(present, values, 0.0), axis=0)])
    counts = np.vstack([zero, np.cumsum(present, axis=0)])
    total, count = sums[hi] - sums[lo], counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def relative_face(mocap: Mocap, max_gap_frames: int) -> tuple[np.ndarray, int]:
    """The 138 face coordinates minus TNOSE per frame, gaps filled; and the filled count."""
    raw = mocap.xyz(_REQUIRED)
    filled, n_filled = interpolate_gaps(raw, max_gap_frames)
    origin, face = filled[:, :3], filled[:, 3:]
    rel = face.reshape(face.shape[0], -1, 3) - origin[:, None, :]
    return rel.reshape(face.shape[0], -1), n_filled


def face_lld_array(
    mocap: Mocap, duration: float, max_gap_frames: int = DEFAULT_MAX_GAP_FRAMES
) -> tuple[np.ndarray, dict[str, Any]]:
    """Float32 ``(n_frames, 138)`` face LLDs on the grid of ``duration`` s, and the coverage."""
    rel, n_filled = relative_face(mocap, max_gap_frames)
    n = grid.n_frames(duration)
    values = window_means(rel, n)
    lo, _ = grid.window_rows(n, MOCAP_FPS, rel.shape[0])
    trailing = lo >= rel.shape[0]
    complete = ~np.isnan(values).any(axis=1)
    coverage = {
        "frames": n,
        "complete": float(complete.mean()),
        "gap_frames": int((~complete & ~trailing).sum()),
        "trailing_frames": int(trailing.sum()),
        "mocap_frames": int(rel.shape[0]),
        "interpolated": n_filled,
    }
    return values.astype(np.float32), coverage


def extract_face_lld(
    mocap_path: str | Path,
    utt_id: str,
    duration: float,
    max_gap_frames: int = DEFAULT_MAX_GAP_FRAMES,
) -> pd.DataFrame:
    """Frame-level face LLDs of one MOCAP_rotated file on the grid of ``duration`` seconds.

    Columns utt_id, frame, time, then FACE_COORDS; the coverage is in ``df.attrs["coverage"]``.
    """
    values, coverage = face_lld_array(read_mocap(mocap_path, _REQUIRED), duration, max_gap_frames)
    df = grid.frame_table(utt_id, values, FACE_SCHEMA).to_pandas()
    df.attrs["coverage"] = coverage
    return df


def extract_session_face(
    utterances: pd.DataFrame,
    out_path: str | Path,
    strict: bool,
    max_gap_frames: int,
    *,
    log_every: int = 100,
    label: str | None = None,
) -> pd.DataFrame:
    """Write the face LLDs of ``utterances`` (utt_id, wav, mocap) to one zstd Parquet file.

    The grid of each utterance comes from its wav's duration (header only). Coverage per
    utterance goes into the file metadata (``coverage``, plus ``max_gap_frames``). A bad wav or
    mocap file raises CorpusError in ``strict`` mode, otherwise the utterance is excluded and
    returned in the excluded table (utt_id, file, line, reason).
    """
    label = label or Path(out_path).parent.name
    coverage: dict[str, dict[str, Any]] = {}

    def job(utt_id: str, wav: str, mocap: str) -> Any:
        duration = validate_wav(wav).duration
        values, cov = face_lld_array(read_mocap(mocap, _REQUIRED), duration, max_gap_frames)
        coverage[utt_id] = cov
        return grid.frame_table(utt_id, values, FACE_SCHEMA)

    rows = utterances[["utt_id", "wav", "mocap"]].itertuples(index=False)
    jobs = ((u, lambda u=u, w=w, m=m: job(u, w, m)) for u, w, m in rows)
    excluded = grid.write_session(
        out_path, FACE_SCHEMA, jobs, len(utterances), strict, f"face {label}", log_every,
        metadata=lambda: {"coverage": coverage, "max_gap_frames": max_gap_frames},
    )
    empty = sorted(u for u, cov in coverage.items() if cov["complete"] == 0.0)
    if empty:
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        logger.info(f"face {label}: {len(empty)} utterances without one complete frame "
                    f"(coverage 0; their NaN are filled downstream): {shown}")
    return excluded
