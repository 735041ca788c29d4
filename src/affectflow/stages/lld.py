"""Stages of ``lld.smk``: one session's audio or face LLDs, and the utterances they left out.

:func:`extract_lld` is the entry point hashed into the LLD rules' cache key
(:data:`affectflow.provenance.LLD_ENTRY`): the code it and its helpers here use is the LLDs'
code; keep unrelated code out of this module's functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from affectflow import io
from affectflow.corpus.iemocap import read_index

logger = logging.getLogger(__name__)

EXCLUDED_COLUMNS = ["utt_id", "file", "line", "reason"]


def session_number(session: str) -> int:
    """``Ses03`` -> 3."""
    return int(session[-1])


def extract_lld(
    kind: str,
    index_path: str | Path,
    session: str,
    out_path: str | Path,
    excluded_path: str | Path,
    *,
    utterances: str,
    strict: bool,
    max_gap_frames: int = 0,
    pitch_ceiling: float | None = None,
) -> None:
    """One session's audio or face LLDs to Parquet, and the utterances left out to a TSV.

    ``max_gap_frames`` (face only): longest marker gap interpolated (config
    ``lld.max_gap_frames``); ``pitch_ceiling`` (audio only): upper limit of the pitch analysis
    in Hz (None: the default of :mod:`affectflow.features.audio`, 600 Hz).
    """
    from affectflow.features.audio import PITCH_CEILING_HZ, extract_session_audio
    from affectflow.features.face import extract_session_face

    index = read_index(index_path, utterances)
    rows = index[index["session"] == session_number(session)]
    logger.info(f"{kind} LLDs of {session}: {len(rows)} utterances ({utterances})")
    if kind == "audio":
        ceiling = PITCH_CEILING_HZ if pitch_ceiling is None else float(pitch_ceiling)
        excluded = extract_session_audio(
            rows, out_path, strict, label=session, pitch_ceiling=ceiling
        )
    else:
        excluded = extract_session_face(
            rows, out_path, strict, max_gap_frames, label=session
        )
    io.write_tsv(_excluded_frame(excluded), excluded_path)
    logger.info(f"{kind} LLDs of {session}: done, {len(excluded)} excluded")


def _excluded_frame(excluded: pd.DataFrame | None) -> pd.DataFrame:
    if excluded is None or len(excluded) == 0:
        return pd.DataFrame(columns=EXCLUDED_COLUMNS)
    out = excluded.copy()
    for col in EXCLUDED_COLUMNS:
        if col not in out:
            out[col] = ""
    return out[EXCLUDED_COLUMNS]


def collect_lld_exclusions(
    parts: Mapping[str, str | Path], out_path: str | Path
) -> None:
    """Merge the per-kind exclusion lists of a session into one, with the stage named."""
    frames = []
    for stage, path in parts.items():
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        frames.append(df.assign(stage=stage))
    merged = pd.concat(frames, ignore_index=True)
    io.write_tsv(merged[["stage", *EXCLUDED_COLUMNS]], out_path)
    logger.info(f"{len(merged)} utterances left out at the LLD stage")
