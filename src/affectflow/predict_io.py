"""Input and output of ``affectflow predict``: the utterance table (wav paths, a folder or a
CSV), its checks before any LLD is computed, and the predictions file. Every error names the
file (and the CSV line) and says what to do instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from affectflow import bundle as bundles
from affectflow import io
from affectflow.errors import AffectflowError, CorpusError

if TYPE_CHECKING:
    from affectflow.predict import Bundle

#: Columns of an utterance table (see :func:`utterance_table`).
INPUT_COLUMNS: tuple[str, ...] = ("conversation", "utterance", "wav", "mocap")

PathList = Sequence[str | Path]


class PredictError(AffectflowError):
    """The input cannot be predicted with this bundle (says what to do instead)."""



def _optional_paths(values: Sequence[Any]) -> list[str | None]:
    """Paths as strings; empty, NaN and None become None."""
    out: list[str | None] = []
    for v in values:
        missing = v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""
        out.append(None if missing else str(v))
    return out


def _mocap_column(df: pd.DataFrame, mocap: str | Path | PathList | None) -> list[str | None]:
    """Each utterance's MOCAP file: the table's ``mocap`` column, else ``mocap`` (a folder of
    ``<wav stem>.txt`` files, or one path per utterance)."""
    given = _optional_paths(df["mocap"]) if "mocap" in df else [None] * len(df)
    if mocap is None:
        return given
    if isinstance(mocap, str | Path):
        folder = Path(mocap)
        if not folder.is_dir():
            raise PredictError(f"{folder}: --mocap must be a folder of <wav name>.txt files")
        stems = [Path(w).stem for w in df["wav"]]
        return [g or str(folder / f"{s}.txt") for g, s in zip(given, stems, strict=True)]
    paths = _optional_paths(list(mocap))
    if len(paths) != len(df):
        raise PredictError(f"{len(paths)} mocap paths for {len(df)} utterances")
    return [g or p for g, p in zip(given, paths, strict=True)]


def utterance_table(
    utterances: pd.DataFrame | PathList, mocap: str | Path | PathList | None = None
) -> pd.DataFrame:
    """The utterances to predict, in order: conversation, utterance, wav, mocap (or None).

    A table needs a ``wav`` column; ``conversation`` defaults to the first wav's folder name
    (one conversation), ``utterance`` to the wav's file stem. A list holds wav paths.
    """
    if isinstance(utterances, pd.DataFrame):
        df = utterances.reset_index(drop=True).copy()
    else:
        df = pd.DataFrame({"wav": [str(p) for p in utterances]})
    if "wav" not in df:
        raise PredictError("the utterance table needs a 'wav' column")
    if df.empty:
        raise PredictError("no utterances to predict")
    df["wav"] = df["wav"].astype(str)
    if "conversation" not in df:
        df["conversation"] = Path(df["wav"].iloc[0]).parent.name or "conversation"
    if "utterance" not in df:
        df["utterance"] = [Path(w).stem for w in df["wav"]]
    df["conversation"] = df["conversation"].astype(str)
    df["utterance"] = df["utterance"].astype(str)
    check_unique_utterances(df)
    df["mocap"] = _mocap_column(df, mocap)
    return df[list(INPUT_COLUMNS)]


def check_unique_utterances(
    df: pd.DataFrame, source: str | Path | None = None, first_line: int | None = None
) -> None:
    """Utterance names are unique within each conversation (they name the output rows).

    ``source``/``first_line``: the CSV file and the line of ``df``'s first row, for the message
    (default: row numbers of the table).
    """
    dup = df.duplicated(["conversation", "utterance"], keep=False).to_numpy()
    if not dup.any():
        return
    first = int(np.flatnonzero(dup)[0])
    conv, utt = df["conversation"].iloc[first], df["utterance"].iloc[first]
    same = np.flatnonzero(dup & (df["conversation"] == conv).to_numpy()
                          & (df["utterance"] == utt).to_numpy())
    if first_line is None:
        where = f"rows {', '.join(str(i) for i in same)}"
    else:
        where = f"{source}: lines {', '.join(str(first_line + i) for i in same)}"
    raise PredictError(
        f"{where} name the same utterance {utt!r} of conversation {conv!r}; utterance names "
        "must be unique within a conversation"
    )


def read_input(path: str | Path, mocap: str | Path | None = None) -> pd.DataFrame:
    """The CLI's ``--input``: a folder of wavs (one conversation named after the folder, in
    file-name order) or a CSV file with columns ``conversation, utterance, wav[, mocap]`` in
    order (relative paths are relative to the CSV file)."""
    p = Path(path)
    if not p.exists():
        raise PredictError(f"{p}: --input does not exist")
    if p.is_dir():
        wavs = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".wav")
        if not wavs:
            raise PredictError(f"{p}: no .wav files in this folder")
        df = pd.DataFrame({"conversation": p.resolve().name,
                           "utterance": [w.stem for w in wavs], "wav": [str(w) for w in wavs]})
        return utterance_table(df, mocap)
    if p.is_file() and p.suffix.lower() == ".csv":
        return utterance_table(read_input_csv(p), mocap)
    raise PredictError(f"{p}: --input must be a folder of wav files or a .csv file "
                       "(columns conversation, utterance, wav[, mocap])")


#: Line of the first data row of an input CSV (line 1 is the header).
CSV_FIRST_LINE = 2


def read_input_csv(path: Path) -> pd.DataFrame:
    """An input CSV, validated: the required columns, at least one row, no empty cell in them,
    unique utterance names per conversation, wav files that exist; errors name the file and
    the line. Relative wav and mocap paths become relative to the CSV's folder."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PredictError(f"{path}: not a readable CSV file ({err})") from err
    missing = [c for c in ("conversation", "utterance", "wav") if c not in df]
    if missing:
        raise PredictError(f"{path}: missing column(s) {', '.join(missing)} "
                           "(expected conversation, utterance, wav[, mocap])")
    if df.empty:
        raise PredictError(f"{path}: no utterances (a header line only)")
    df = df.reset_index(drop=True)
    for col in ("conversation", "utterance", "wav"):
        blank = np.flatnonzero((df[col].str.strip() == "").to_numpy())
        if len(blank):
            raise PredictError(f"{path}: line {CSV_FIRST_LINE + int(blank[0])}: empty {col}")
    check_unique_utterances(df, path, CSV_FIRST_LINE)
    for col in ("wav", "mocap"):
        if col in df:
            df[col] = [str(path.parent / v) if v else v for v in df[col]]
    for i, wav in enumerate(df["wav"]):
        if not Path(wav).is_file():
            raise PredictError(f"{path}: line {CSV_FIRST_LINE + i}: wav file {wav} not found")
    return df


def check_face_input(bundle: Bundle, table: pd.DataFrame) -> None:
    """A bundle that needs the face refuses utterances without a readable MOCAP file."""
    if not bundle.needs_face:
        return
    alternative = bundles.audio_only(bundle.classifier)
    advice = (f"train the audio-only variant {alternative} (config final.classifiers) "
              "instead, or pass its bundle" if alternative else
              "this classifier has no audio-only variant in affectflow.registry")
    lacking = table[table["mocap"].isna()]
    if len(lacking):
        raise PredictError(
            f"bundle {bundle.classifier} needs --mocap (MOCAP_rotated files) for every "
            f"utterance; {len(lacking)} of {len(table)} have none (e.g. "
            f"{lacking['utterance'].iloc[0]}); {advice}"
        )
    absent = [m for m in table["mocap"] if not Path(m).is_file()]
    if absent:
        raise PredictError(
            f"bundle {bundle.classifier} needs a MOCAP_rotated file for every utterance; "
            f"{len(absent)} not found, e.g. {absent[0]}; {advice}"
        )


#: A recording whose every sample is below this magnitude (one step of 16-bit PCM) is silent.
SILENCE_PEAK = 1.0 / 32768


def check_audio_input(table: pd.DataFrame) -> None:
    """Every wav is readable, at least one 50 ms frame long and not silent (every sample below
    one 16-bit step): :class:`~affectflow.errors.CorpusError` naming the file otherwise, before
    any feature is computed."""
    from affectflow.features.wav import read_wav_any

    for wav in table["wav"]:
        x, _ = read_wav_any(wav, announce=False)  # raises for unreadable, empty and too-short files
        if not np.any(np.abs(x) >= SILENCE_PEAK):
            raise CorpusError(wav, "silent: every sample is zero (below one 16-bit step), "
                                   "nothing to recognise")


def check_output_path(path: str | Path) -> Path:
    """``--out`` must end in .csv or .parquet, in a folder that exists."""
    p = Path(path)
    if p.suffix.lower() not in (".csv", ".parquet"):
        raise PredictError(f"{p}: --out must end in .csv or .parquet")
    if not p.parent.is_dir():
        raise PredictError(f"{p}: --out folder {p.parent} does not exist")
    return p


def write_output(df: pd.DataFrame, path: str | Path) -> None:
    """Write the predictions as CSV or Parquet (by extension), atomically."""
    p = check_output_path(path)
    if p.suffix.lower() == ".parquet":
        io.write_parquet(df, p)
        return
    with io.atomic_path(p) as tmp:
        df.to_csv(tmp, index=False)
