"""The frame grid shared by the audio and face low-level descriptors.

50 ms windows every 25 ms: frame ``k`` covers ``[0.025 k, 0.025 k + 0.050)`` s of the utterance
and is centred at ``0.025 k + 0.025`` s. An utterance of duration ``d`` has
``floor((d - 0.050) / 0.025) + 1`` frames (at least 1). Audio and face both call these
functions, so an utterance always has the same frame count and times in both modalities.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from affectflow.errors import CorpusError
from affectflow.io import atomic_path

logger = logging.getLogger(__name__)

WINDOW_S = 0.050
SHIFT_S = 0.025
#: Slack for float durations such as ``n_samples / rate`` that land exactly on a frame edge.
_EPS = 1e-9


def n_frames(duration: float) -> int:
    """Number of grid frames of an utterance lasting ``duration`` seconds (at least 1)."""
    return max(1, math.floor((duration - WINDOW_S) / SHIFT_S + _EPS) + 1)


def n_frames_for_samples(n_samples: int, rate: int) -> int:
    """Number of grid frames of ``n_samples`` samples at ``rate`` Hz (at least 1)."""
    return n_frames(n_samples / rate)


def frame_starts(n: int) -> np.ndarray:
    """Start time (s) of each of ``n`` frames, float64."""
    return np.arange(n, dtype=np.float64) * SHIFT_S


def frame_times(n: int) -> np.ndarray:
    """Centre time (s) of each of ``n`` frames, float64."""
    return frame_starts(n) + WINDOW_S / 2


def span(n: int) -> float:
    """Seconds from the start of frame 0 to the end of frame ``n - 1``."""
    return WINDOW_S + (n - 1) * SHIFT_S


def window_rows(n: int, rate: float, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges ``[lo, hi)`` of a signal sampled at ``rate`` Hz (row ``i`` at ``i / rate`` s)
    that fall inside each of ``n`` frame windows, clipped to ``n_rows`` rows.

    Row ``i`` belongs to frame ``k`` when ``0.025 k <= i / rate < 0.025 k + 0.050``.
    """
    starts = frame_starts(n)
    lo = np.ceil(starts * rate - _EPS).astype(np.int64)
    hi = np.ceil((starts + WINDOW_S) * rate - _EPS).astype(np.int64)
    return np.minimum(lo, n_rows), np.minimum(hi, n_rows)


# --- frame tables: utt_id, frame, time, float32 features -------------------------------------

#: Rows buffered before a Parquet row group is written.
ROWS_PER_GROUP = 65_536


def frame_schema(names: Sequence[str]) -> pa.Schema:
    """Arrow schema of an LLD file: ``utt_id, frame (int32), time (float32)`` + float32 names."""
    fields = [("utt_id", pa.string()), ("frame", pa.int32()), ("time", pa.float32())]
    return pa.schema(fields + [(n, pa.float32()) for n in names])


def frame_table(utt_id: str, values: np.ndarray, schema: pa.Schema) -> pa.Table:
    """One utterance's ``(n_frames, n_features)`` values as a table of ``schema``."""
    n = values.shape[0]
    cols = [
        pa.repeat(utt_id, n).cast(pa.string()),
        pa.array(np.arange(n, dtype=np.int32)),
        pa.array(frame_times(n).astype(np.float32)),
    ]
    columns = np.asarray(values, dtype=np.float32).T.copy()  # one contiguous row per column
    cols += [pa.array(c) for c in columns]
    return pa.Table.from_arrays(cols, schema=schema)


class FrameTableWriter:
    """Streams frame tables into one zstd Parquet file, renamed into place only on success.

    Tables are buffered up to :data:`ROWS_PER_GROUP` rows per row group, so a session's LLDs are
    never held in memory at once. JSON metadata given with :meth:`set_metadata` is stored as
    file key-value metadata, readable with :func:`affectflow.io.read_parquet_metadata`.
    """

    def __init__(self, path: str | Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.schema = schema
        self._buffer: list[pa.Table] = []
        self._rows = 0
        self._metadata: dict[str, Any] = {}

    def __enter__(self) -> FrameTableWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        # store_schema=False: the Arrow types map 1:1 onto Parquet types, and without the
        # serialised Arrow schema the key-value metadata added at close is what readers see.
        self._writer = pq.ParquetWriter(tmp, self.schema, compression="zstd", store_schema=False)
        return self

    def add(self, table: pa.Table) -> None:
        """Queue one utterance's table; writes a row group when enough rows are buffered."""
        self._buffer.append(table)
        self._rows += table.num_rows
        if self._rows >= ROWS_PER_GROUP:
            self._flush()

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """JSON-serialisable metadata to store when the file is closed."""
        self._metadata.update(metadata)

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.concat_tables(self._buffer))
        self._buffer, self._rows = [], 0

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        try:
            if exc_type is None:
                self._flush()
                if self._metadata:
                    meta = {k: json.dumps(v) for k, v in self._metadata.items()}
                    self._writer.add_key_value_metadata(meta)
        finally:
            self._writer.close()
        return self._atomic.__exit__(exc_type, exc, tb)


# --- excluded utterances (lenient mode) -------------------------------------------------------

EXCLUDED_COLUMNS = ("utt_id", "file", "line", "reason")


def excluded_frame(rows: list[dict]) -> pd.DataFrame:
    """Excluded utterances as a table: utt_id, file, line (nullable), reason."""
    df = pd.DataFrame(rows, columns=list(EXCLUDED_COLUMNS))
    df["line"] = df["line"].astype("Int64")
    return df


def excluded_row(utt_id: str, err: CorpusError) -> dict:
    """One excluded-utterance record from the error that excluded it."""
    return {"utt_id": utt_id, "file": err.path, "line": err.line, "reason": err.reason}


def write_session(
    out_path: str | Path,
    schema: pa.Schema,
    jobs: Iterable[tuple[str, Callable[[], pa.Table]]],
    total: int,
    strict: bool,
    prefix: str,
    log_every: int = 100,
    metadata: Callable[[], dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Run ``(utt_id, make_table)`` jobs one by one into one Parquet file; the excluded table.

    A CorpusError from a job propagates in ``strict`` mode (no file is left behind); otherwise
    the utterance is recorded as excluded and logged as a warning. Progress: ``"<prefix>: i/total
    utterances"`` is logged every ``log_every`` utterances and at the end; ``metadata()`` is
    stored in the file when all jobs are done.
    """
    excluded: list[dict] = []
    with FrameTableWriter(out_path, schema) as writer:
        for i, (utt_id, make_table) in enumerate(jobs, 1):
            try:
                writer.add(make_table())
            except CorpusError as err:
                if strict:
                    raise
                excluded.append(excluded_row(utt_id, err))
                logger.warning(f"{prefix}: excluded {utt_id}: {err}")
            if i % log_every == 0 or i == total:
                logger.info(f"{prefix}: {i}/{total} utterances")
        if metadata is not None:
            writer.set_metadata(metadata())
    return excluded_frame(excluded)
