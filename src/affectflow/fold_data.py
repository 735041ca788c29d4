"""The one path from LLD Parquet files to normalised per-fold frame features and functionals.

Used by the fold-preparation job (fit the normaliser and PFA), the functionals job, the HMM
jobs and prediction, so that all of them see exactly the same features.

Feature sets (channels, deltas appended after the base channels, ``<channel>_d``):

- ``v``: the 27 MFB, pitch, energy (``groups.HMM_VOICE_LLDS``) -> 58 channels;
- ``f``: the fold's 30 PFA face coordinates -> 60;
- ``vf``: both -> 118 (voice, face, voice deltas, face deltas);
- ``all``: the 41 audio LLDs and the 30 PFA coordinates -> 142, the input of the functionals.

NaN policy. Audio is z-standardised and face coordinates speaker-normalised first; deltas are
computed on the signal with its NaN (so a delta whose window touches a gap is NaN). Then

- ``nan_policy="keep"`` (functionals): NaN stays; the functionals skip NaN frames per channel.
- ``nan_policy="fill"`` (HMMs, whose Gaussians must never see NaN): a NaN audio value
  (unvoiced pitch) becomes 0, the training mean after z-standardisation; a NaN face
  coordinate (long marker gap) becomes the mean of that coordinate over the utterance's valid
  frames, or the fold's global face mean if the utterance has none; every NaN delta becomes 0
  (no change). The number of filled values per channel is returned (``FrameFeatures.filled``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from affectflow.features.deltas import bounds_from_ids, delta_names, deltas
from affectflow.features.functionals import functional_names, functionals_frame
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS, HMM_VOICE_LLDS
from affectflow.folds import FoldSplit
from affectflow.normalize import (
    Normalizer,
    SpeakerSource,
    fit_normalizer,
    frame_speakers,
    speakers_from_ids,
    training_rows,
)
from affectflow.selection.pfa import MAX_FRAMES, N_FEATURES, VARIANCE, PFAResult, fit_pfa

FeatureSet = Literal["v", "f", "vf", "all"]
FEATURE_SETS: tuple[str, ...] = ("v", "f", "vf", "all")
CHUNK_FRAMES = 200_000


class FrameFeatures(NamedTuple):
    """Frame features of consecutive utterances (rows ``bounds[i]:bounds[i + 1]``)."""

    values: np.ndarray  # (frames, channels) float32
    utt_ids: list[str]
    bounds: np.ndarray  # (utts + 1,) int64 offsets
    channels: list[str]
    filled: dict[str, int]  # channel -> NaN values filled (nan_policy="fill"; else empty)


def speaker_map(index: pd.DataFrame) -> dict[str, str]:
    """utt_id -> speaker from the corpus index."""
    return dict(zip(index["utt_id"].astype(str), index["speaker"].astype(str), strict=True))


def utterance_speakers(utt_ids: pd.Series | Sequence[str]) -> pd.Series:
    """Speaker of every element of an utt_id column, parsed from the ids (``Ses01F_..._M003``
    -> ``Ses01M``); keeps a Series' index."""
    series = utt_ids if isinstance(utt_ids, pd.Series) else pd.Series(list(utt_ids))
    return speakers_from_ids(series)


def face_owners(utt_ids: pd.Series | Sequence[str]) -> pd.Series:
    """Whose face the MOCAP frames of each utterance show: the dialog's marker wearer."""
    series = utt_ids if isinstance(utt_ids, pd.Series) else pd.Series(list(utt_ids))
    return speakers_from_ids(series, face_owner=True)


def _read(
    paths: Iterable[str | Path], ids: list[str] | None, columns: Sequence[str]
) -> pd.DataFrame:
    """Rows of ``ids`` (all rows if ``None``) and the given columns of some LLD files."""
    cols = ["utt_id", "frame", *columns]
    wanted = None if ids is None else pa.array(ids, type=pa.string())
    tables = []
    for path in paths:
        table = pq.read_table(path, columns=cols)
        if wanted is not None:
            table = table.filter(pc.is_in(table["utt_id"].cast(pa.string()), value_set=wanted))
        tables.append(table)
    if not tables:
        raise ValueError("no LLD files given")
    df = pa.concat_tables(tables).to_pandas()
    df["utt_id"] = df["utt_id"].astype(str)
    return df


def _arrange(df: pd.DataFrame, ids: list[str], what: str) -> pd.DataFrame:
    """Rows of ``ids`` in that order, frames ascending; checks presence and frame numbering."""
    pos = pd.Index(ids).get_indexer(df["utt_id"])
    keep = pos >= 0
    order = np.lexsort((df["frame"].to_numpy()[keep], pos[keep]))
    df = df.iloc[np.flatnonzero(keep)[order]].reset_index(drop=True)
    present = set(df["utt_id"].unique())
    missing = [u for u in ids if u not in present]
    if missing:
        raise ValueError(f"{len(missing)} utterances have no {what} frames, e.g. {missing[0]}")
    bounds = bounds_from_ids(df["utt_id"].to_numpy())
    expected = np.arange(len(df)) - np.repeat(bounds[:-1], np.diff(bounds))
    if not np.array_equal(df["frame"].to_numpy(), expected):
        raise ValueError(f"{what} frames are not numbered 0..n-1 once per utterance")
    return df


def load_lld(
    audio_paths: Iterable[str | Path] | None,
    face_paths: Iterable[str | Path] | None,
    utt_ids: Sequence[str] | None = None,
    *,
    audio_columns: Sequence[str] = AUDIO_LLDS,
    face_columns: Sequence[str] = FACE_COORDS,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Frames of ``utt_ids`` (in that order, frames ascending) from LLD Parquet files.

    Reads only the requested columns (``utt_id``, ``frame`` and the features) and rows. Either
    path list may be ``None`` to skip that modality. With ``utt_ids=None``: every utterance
    that has frames in all the given modalities, in the order of the first modality's files
    (an utterance left out by one LLD stage is dropped; ``attrs["dropped"]`` lists them).
    Raises if a requested utterance is missing or audio and face frame counts differ.
    """
    lists = {"audio": audio_paths, "face": face_paths}
    cols = {"audio": audio_columns, "face": face_columns}
    loaded: dict[str, pd.DataFrame] = {}
    dropped: list[str] = []
    if utt_ids is None:
        raw = {k: _read(p, None, cols[k]) for k, p in lists.items() if p is not None}
        per_kind = [list(pd.unique(df["utt_id"])) for df in raw.values()]
        common = set.intersection(*(set(u) for u in per_kind)) if per_kind else set()
        ids = [u for u in per_kind[0] if u in common] if per_kind else []
        dropped = sorted(set().union(*(set(u) for u in per_kind)) - common)
        loaded = {k: _arrange(df, ids, k) for k, df in raw.items()}
    else:
        ids = [str(u) for u in utt_ids]
        if len(set(ids)) != len(ids):
            raise ValueError("utt_ids contains duplicates")
        loaded = {
            k: _arrange(_read(p, ids, cols[k]), ids, k) for k, p in lists.items() if p is not None
        }
    audio, face = loaded.get("audio"), loaded.get("face")
    if audio is not None and face is not None:
        a_len = np.diff(bounds_from_ids(audio["utt_id"].to_numpy()))
        f_len = np.diff(bounds_from_ids(face["utt_id"].to_numpy()))
        bad = np.flatnonzero(a_len != f_len)
        if len(bad):
            raise ValueError(
                f"audio and face frame counts differ for {len(bad)} utterances, "
                f"e.g. {ids[bad[0]]}: {a_len[bad[0]]} vs {f_len[bad[0]]}"
            )
    for df in loaded.values():
        df.attrs["dropped"] = dropped
    return audio, face


def load_face(
    face_paths: Iterable[str | Path],
    utt_ids: Sequence[str] | None = None,
    *,
    columns: Sequence[str] = FACE_COORDS,
) -> pd.DataFrame:
    """Face frames only (see :func:`load_lld`)."""
    _, face = load_lld(None, face_paths, utt_ids, face_columns=columns)
    assert face is not None
    return face


def _channels(feature_set: str, pfa: PFAResult | None) -> tuple[list[str], list[str]]:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
    voice = {"v": list(HMM_VOICE_LLDS), "vf": list(HMM_VOICE_LLDS), "all": list(AUDIO_LLDS)}
    needs_face = feature_set != "v"
    if needs_face and pfa is None:
        raise ValueError(f"feature set {feature_set!r} needs the PFA selection")
    return voice.get(feature_set, []), list(pfa.selected) if needs_face else []


def frame_features(
    audio: pd.DataFrame | None,
    face: pd.DataFrame | None,
    normalizer: Normalizer,
    pfa: PFAResult | None,
    utt_speaker: SpeakerSource = None,
    feature_set: FeatureSet = "all",
    *,
    nan_policy: Literal["keep", "fill"] = "keep",
) -> FrameFeatures:
    """Normalised frame features plus deltas (see the module docstring for sets and NaN).

    ``audio``/``face``: aligned frame tables as :func:`load_lld` returns them (either may be
    ``None`` if the feature set does not need it); ``utt_speaker``: whose face each face row
    shows, see :func:`affectflow.normalize.frame_speakers` (``None``: the marker wearer parsed
    from the utterance id).
    """
    if nan_policy not in ("keep", "fill"):
        raise ValueError(f"nan_policy must be 'keep' or 'fill', got {nan_policy!r}")
    voice_cols, face_cols = _channels(feature_set, pfa)
    parts, ref = [], None
    if voice_cols:
        if audio is None:
            raise ValueError(f"feature set {feature_set!r} needs audio frames")
        parts.append(normalizer.apply_audio(audio[["utt_id", *voice_cols]])[voice_cols])
        ref = audio["utt_id"].to_numpy()
    if face_cols:
        if face is None:
            raise ValueError(f"feature set {feature_set!r} needs face frames")
        normed = normalizer.apply_face(face[["utt_id", *face_cols]], utt_speaker)
        parts.append(normed[face_cols])
        face_ids = face["utt_id"].to_numpy()
        if ref is not None and not np.array_equal(ref, face_ids):
            raise ValueError("audio and face frames are not aligned (load them with load_lld)")
        ref = face_ids
    base = np.concatenate([p.to_numpy(dtype=np.float32) for p in parts], axis=1)
    bounds = bounds_from_ids(ref)
    utt_ids = [str(u) for u in ref[bounds[:-1]]]
    d = deltas(base, bounds)
    channels = [*voice_cols, *face_cols]
    filled: dict[str, int] = {}
    if nan_policy == "fill":
        filled = _fill(base, d, bounds, channels, len(voice_cols), normalizer)
    values = np.concatenate([base, d], axis=1)
    return FrameFeatures(values, utt_ids, bounds, [*channels, *delta_names(channels)], filled)


def _fill(
    base: np.ndarray,
    d: np.ndarray,
    bounds: np.ndarray,
    channels: list[str],
    n_voice: int,
    normalizer: Normalizer,
) -> dict[str, int]:
    """Fill NaN in place by the HMM policy; returns the count per channel (base and delta)."""
    missing = np.isnan(base)
    d_missing = np.isnan(d)
    counts = dict(zip(channels, missing.sum(axis=0).tolist(), strict=True))
    counts.update(zip(delta_names(channels), d_missing.sum(axis=0).tolist(), strict=True))
    voice = base[:, :n_voice]
    voice[missing[:, :n_voice]] = 0.0
    if base.shape[1] > n_voice and missing[:, n_voice:].any():
        face = base[:, n_voice:]
        gaps = missing[:, n_voice:]
        lengths = np.diff(bounds)
        sums = np.add.reduceat(np.where(gaps, 0.0, face), bounds[:-1], axis=0, dtype=np.float64)
        valid = lengths[:, None] - np.add.reduceat(gaps, bounds[:-1], axis=0, dtype=np.int64)
        idx = [normalizer.face_names.index(c) for c in channels[n_voice:]]
        fallback = np.broadcast_to(normalizer.face_global_mean[idx], sums.shape)
        utt_mean = np.where(valid > 0, sums / np.maximum(valid, 1), fallback)
        rows, cols = np.nonzero(gaps)
        seg = np.searchsorted(bounds, rows, side="right") - 1
        face[rows, cols] = utt_mean[seg, cols].astype(np.float32)
    d[d_missing] = 0.0
    return {c: int(n) for c, n in counts.items() if n}


def training_face_frames(
    face: pd.DataFrame,
    normalizer: Normalizer,
    train_speakers: Iterable[str],
    utt_speaker: SpeakerSource = None,
) -> tuple[np.ndarray, list[str]]:
    """Speaker-normalised face frames of training utterances (spoken by a training speaker and
    showing a training speaker's face: :func:`affectflow.normalize.training_rows`), the input
    of PFA.

    Speakers come from ``utt_speaker`` (``None``: parsed from the ids; the face is the dialog's
    marker wearer's).

    Returns ``(frames x coordinates)`` float32 (NaN kept; PFA drops incomplete frames) and the
    coordinate names (``FACE_COORDS`` order).
    """
    names = [c for c in FACE_COORDS if c in face.columns]
    speakers = frame_speakers(face, utt_speaker, face=True)
    rows = training_rows(face, utt_speaker, train_speakers)
    train = face.loc[rows, ["utt_id", *names]]
    normed = normalizer.apply_face(train, speakers[rows])
    return normed[names].to_numpy(dtype=np.float32), names


def fit_fold_transforms(
    audio: pd.DataFrame,
    face: pd.DataFrame,
    split: FoldSplit,
    utt_speaker: SpeakerSource = None,
    *,
    n_features: int = N_FEATURES,
    variance: float = VARIANCE,
    seed: int = 0,
    max_frames: int | None = MAX_FRAMES,
) -> tuple[Normalizer, PFAResult]:
    """Fit the fold's normaliser, then PFA on the training speakers' normalised face frames.

    ``audio``/``face``: all 41 LLDs and 138 coordinates of the fold's utterances (train and
    test: the test speaker's face mean is part of the normaliser). Labels are never read.
    """
    normalizer = fit_normalizer(audio, face, utt_speaker, split.train)
    values, names = training_face_frames(face, normalizer, split.train, utt_speaker)
    pfa = fit_pfa(
        values, names, n_features=n_features, variance=variance, seed=seed, max_frames=max_frames
    )
    return normalizer, pfa


def fold_functionals(
    audio: pd.DataFrame,
    face: pd.DataFrame,
    normalizer: Normalizer,
    pfa: PFAResult,
    *,
    keep_utterances: pd.Series | np.ndarray | Iterable[str] | None = None,
    utt_speaker: SpeakerSource = None,
    chunk_frames: int = CHUNK_FRAMES,
) -> pd.DataFrame:
    """``functionals.parquet`` rows: ``utt_id`` + 142 x 24 functionals, one row per utterance.

    ``audio``/``face``: aligned frame tables from :func:`load_lld` (face needs at least the
    PFA coordinates). ``keep_utterances``: a boolean mask over the frame rows, or utterance
    ids; ``None`` keeps all. Utterances come out in frame-table order. Works through them in
    chunks of about ``chunk_frames`` frames to bound memory.
    ``attrs["empty_utterances"]``: channel -> utterances without a valid frame (filled with 0).
    """
    speakers = frame_speakers(face, utt_speaker, face=True)
    if keep_utterances is not None:
        mask = _row_mask(audio, keep_utterances)
        audio, face, speakers = audio.loc[mask], face.loc[mask], speakers[mask]
    bounds = bounds_from_ids(audio["utt_id"].to_numpy())
    pieces, empty = [], {}
    start = 0
    while start < len(bounds) - 1:
        stop = int(np.searchsorted(bounds, bounds[start] + chunk_frames, side="right")) - 1
        stop = min(max(stop, start + 1), len(bounds) - 1)
        rows = slice(int(bounds[start]), int(bounds[stop]))
        feats = frame_features(
            audio.iloc[rows],
            face.iloc[rows],
            normalizer,
            pfa,
            speakers[rows],
            "all",
        )
        piece = functionals_frame(feats.values, feats.bounds, feats.channels, feats.utt_ids)
        for c, n in piece.attrs["empty_utterances"].items():
            empty[c] = empty.get(c, 0) + n
        pieces.append(piece)
        start = stop
    if not pieces:
        base = [*AUDIO_LLDS, *pfa.selected]
        out = pd.DataFrame(columns=["utt_id", *functional_names([*base, *delta_names(base)])])
    else:
        out = pd.concat(pieces, ignore_index=True)
    out.attrs["empty_utterances"] = empty
    return out


def _row_mask(frames: pd.DataFrame, keep: pd.Series | np.ndarray | Iterable[str]) -> np.ndarray:
    """Boolean row mask from a mask or from utterance ids."""
    if isinstance(keep, pd.Series | np.ndarray) and np.asarray(keep).dtype == bool:
        mask = np.asarray(keep)
        if len(mask) != len(frames):
            raise ValueError(f"keep_utterances has {len(mask)} entries for {len(frames)} frames")
        return mask
    return frames["utt_id"].isin(set(map(str, keep))).to_numpy()
