"""Emotion classes of new recordings from a final-model bundle (``affectflow predict``).

The path is the workflow's, through the same functions: LLDs on the 25 ms grid
(:mod:`affectflow.features.audio`, :func:`affectflow.features.face.extract_face_lld`) -> the
bundle's normaliser -> functionals (:func:`affectflow.fold_data.fold_functionals`) -> the
bundle's CFS selection -> missing functionals filled with the bundle's training means
(:class:`affectflow.impute.MeanImputer`, as in every fold) -> the model's class scores
(:func:`affectflow.models.scoring.score_utterances`, as in the fold jobs).

- Audio is z-standardised with the bundle's statistics (all training speakers).
- Face coordinates are speaker-normalised with each conversation's own mean face, as a fold
  does for its test speaker (unsupervised; no label needed).
- An audio-only bundle (``*_v``) ignores MOCAP files and gets an all-NaN face, so its
  functionals still come from the same function; its selected features are all audio.
- Wavs at another rate or with several channels are converted to 16 kHz mono
  (:func:`affectflow.features.wav.read_wav_any`), with a notice.

Input: conversations, each an ordered list of utterances (wav, and a MOCAP_rotated file for a
bundle that needs the face). The (B)LSTM sees each conversation as one sequence in that order;
the SVM classifies every utterance on its own.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from affectflow import bundle as bundles
from affectflow import fold_data, io
from affectflow.errors import AffectflowError, CorpusError
from affectflow.features import grid
from affectflow.features.groups import FACE_COORDS
from affectflow.impute import MeanImputer
from affectflow.models import scoring
from affectflow.normalize import Normalizer, nan_mean
from affectflow.selection.pfa import PFAResult

logger = logging.getLogger(__name__)

#: Columns of an utterance table (see :func:`utterance_table`).
INPUT_COLUMNS: tuple[str, ...] = ("conversation", "utterance", "wav", "mocap")
#: Inputs with at least this many utterances get a progress bar.
PROGRESS_MIN = 20
#: Prefix of the face "speaker" of a conversation (never a corpus speaker id).
_CONVERSATION = "conversation:"

PathList = Sequence[str | Path]


class PredictError(AffectflowError):
    """The input cannot be predicted with this bundle (says what to do instead)."""


@dataclass
class Bundle:
    """A loaded final-model bundle (:func:`load_bundle`)."""

    path: Path
    manifest: dict[str, Any]
    normalizer: Normalizer
    pfa: PFAResult
    features: list[str]
    imputer: MeanImputer
    model: Any

    @property
    def task(self) -> str:
        """The task, e.g. ``valence3``."""
        return self.manifest["task"]

    @property
    def classifier(self) -> str:
        """The classifier, e.g. ``blstm_vf``."""
        return self.manifest["classifier"]

    @property
    def needs_face(self) -> bool:
        """Whether every utterance needs a MOCAP_rotated file."""
        return bool(self.manifest["needs_face"])

    @property
    def classes(self) -> list[dict[str, Any]]:
        """id, key, name and meaning of every class."""
        return self.manifest["classes"]

    def predict(
        self,
        utterances: pd.DataFrame | PathList,
        mocap: str | Path | PathList | None = None,
        *,
        progress: bool = True,
    ) -> pd.DataFrame:
        """One row per utterance: conversation, utterance, class_id, class_name, one
        probability column ``p_<class key>`` per class, and the meaning of the class.

        ``utterances``: wav paths (one conversation, in order) or a table, see
        :func:`utterance_table`; ``mocap``: a folder of ``<wav stem>.txt`` files or one path
        per utterance. Conversion notices are logged as warnings (:mod:`affectflow.logs`).
        """
        table = utterance_table(utterances, mocap)
        return predict_table(self, table, progress=progress)


def load_bundle(path: str | Path, device: str | None = None) -> Bundle:
    """Load a bundle directory, refusing an incomplete one or one from another affectflow
    major.minor version (:class:`affectflow.bundle.BundleError`). ``device``: for a (B)LSTM
    (default: the saved one, CPU when CUDA is absent)."""
    root = Path(path)
    manifest = _read_manifest(root)
    files = manifest["files"]
    features = list(bundles.check_features(
        manifest, _load_part(root, files["features"], io.read_json)))
    model = _load_part(root, files["model"], lambda p: _load_model(manifest["family"], p, device))
    if model.n_features_in_ != len(features):
        raise bundles.BundleError(
            f"{root}: the model takes {model.n_features_in_} features, the manifest lists "
            f"{len(features)}"
        )
    return Bundle(
        path=root,
        manifest=manifest,
        normalizer=_load_part(root, files["normalizer"], Normalizer.load),
        pfa=_load_part(root, files["pfa"], lambda p: PFAResult.from_json(io.read_json(p))),
        features=features,
        imputer=_load_part(
            root, files["imputer"],
            lambda p: MeanImputer.from_json(io.read_json(p)).subset(features),
        ),
        model=model,
    )


#: Manifest entries prediction reads, with their types, and the files it loads.
MANIFEST_ENTRIES: dict[str, type] = {
    "task": str, "classifier": str, "family": str, "needs_face": bool, "files": dict,
    "features": list, "classes": list, "config": dict,
}
BUNDLE_FILES: tuple[str, ...] = ("normalizer", "pfa", "features", "imputer", "model")


def _read_manifest(root: Path) -> dict[str, Any]:
    """The bundle's manifest (:func:`affectflow.bundle.read_manifest`: complete bundle, this
    major.minor version), with every entry prediction needs; a
    :class:`~affectflow.bundle.BundleError` naming the manifest and the entry otherwise."""
    where = root / bundles.MANIFEST
    try:
        manifest = bundles.read_manifest(root)
    except (KeyError, TypeError, AttributeError) as err:
        raise bundles.BundleError(
            f"{where}: malformed manifest ({type(err).__name__}: {err}); the bundle is "
            "damaged, retrain it"
        ) from err
    for key, kind in MANIFEST_ENTRIES.items():
        if not isinstance(manifest.get(key), kind):
            raise bundles.BundleError(
                f"{where}: malformed manifest, entry {key!r} is missing or not a "
                f"{kind.__name__}; the bundle is damaged, retrain it"
            )
    if manifest["family"] not in bundles.FAMILIES:
        raise bundles.BundleError(f"{where}: unknown model family {manifest['family']!r}")
    missing = [k for k in BUNDLE_FILES if not isinstance(manifest["files"].get(k), str)]
    if missing:
        raise bundles.BundleError(
            f"{where}: malformed manifest, 'files' lacks {', '.join(missing)}")
    if not isinstance(manifest["config"].get("lld"), dict):
        raise bundles.BundleError(f"{where}: malformed manifest, no 'config.lld' section")
    return manifest


def _load_part(root: Path, name: str, load: Callable[[Path], Any]) -> Any:
    """Load one file of a bundle; a file that cannot be read is a damaged bundle."""
    path = root / name
    try:
        return load(path)
    except bundles.BundleError:
        raise
    except Exception as err:  # any reader's error: name the file, keep the cause chained
        raise bundles.BundleError(
            f"{path}: cannot be read ({type(err).__name__}: {err}); the bundle is damaged, "
            "retrain it"
        ) from err


def _load_model(family: str, path: Path, device: str | None) -> Any:
    return scoring.load_model(family, path, device=device)


# --------------------------------------------------------------------------------- input


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
              "instead, or pass its bundle")
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


# ------------------------------------------------------------------------------ features


def _audio_frames(wav: str, key: str, lld: Mapping[str, Any]) -> pd.DataFrame:
    """Audio LLD frames of one wav (converted to 16 kHz mono if needed), with the bundle's
    LLD settings (config ``lld``)."""
    import parselmouth

    from affectflow.features.audio import AUDIO_SCHEMA, audio_lld_array
    from affectflow.features.wav import read_wav_any

    x, rate = read_wav_any(wav)
    options = {"pitch_ceiling": float(lld["pitch_ceiling"])} if "pitch_ceiling" in lld else {}
    try:
        values = audio_lld_array(x, rate, **options)
    except parselmouth.PraatError as err:
        raise CorpusError(wav, f"Praat analysis failed: {err}") from err
    frames = grid.frame_table(key, values, AUDIO_SCHEMA).to_pandas()
    frames.attrs["duration"] = x.size / rate
    return frames


def _face_frames(mocap: str | None, key: str, duration: float, n: int,
                 lld: Mapping[str, Any]) -> pd.DataFrame:
    """Face LLD frames of one utterance, or all-NaN frames when ``mocap`` is None."""
    from affectflow.features.face import FACE_SCHEMA, extract_face_lld

    if mocap is None:
        nan = np.full((n, len(FACE_COORDS)), np.nan, dtype=np.float32)
        return grid.frame_table(key, nan, FACE_SCHEMA).to_pandas()
    return extract_face_lld(mocap, key, duration, int(lld["max_gap_frames"]))


def extract_lld(
    table: pd.DataFrame,
    keys: Sequence[str],
    use_face: bool,
    lld: Mapping[str, Any],
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aligned audio and face frame tables (as :func:`affectflow.fold_data.load_lld` gives
    them) of the utterances of ``table``, under the utterance ids ``keys``; ``lld``: the
    bundle's config ``lld`` section."""
    audio, face = [], []
    rows = zip(keys, table["wav"], table["mocap"], strict=True)
    bar = tqdm(rows, total=len(keys), desc="LLDs", unit="utt", file=sys.stderr,
               disable=not progress or len(keys) < PROGRESS_MIN)
    for key, wav, mocap in bar:
        a = _audio_frames(wav, key, lld)
        f = _face_frames(mocap if use_face else None, key, a.attrs["duration"], len(a), lld)
        if len(f) != len(a):
            raise CorpusError(mocap, f"{len(f)} face frames for {len(a)} audio frames of {wav}")
        audio.append(a)
        face.append(f)
    return _frames(audio), _frames(face)


def _frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    df = pd.concat(parts, ignore_index=True)
    df["utt_id"] = df["utt_id"].astype(str)
    return df


def with_face_means(
    normalizer: Normalizer, face: pd.DataFrame, speakers: dict[str, str]
) -> Normalizer:
    """The normaliser plus the mean face of each new speaker (a conversation), computed
    like :func:`affectflow.normalize.fit_normalizer` does for a fold's test speaker."""
    codes, uniques = pd.factorize(face["utt_id"].map(speakers))
    values = face[list(FACE_COORDS)].to_numpy()
    means = dict(normalizer.face_speaker_mean)
    means.update({str(s): nan_mean(values[codes == k]) for k, s in enumerate(uniques)})
    return replace(normalizer, face_speaker_mean=means)


def functionals(
    bundle: Bundle, table: pd.DataFrame, progress: bool = True
) -> np.ndarray:
    """The bundle's selected functionals of every utterance of ``table``, in order."""
    keys = [f"utt{i:07d}" for i in range(len(table))]
    speakers = {k: _CONVERSATION + c for k, c in zip(keys, table["conversation"], strict=True)}
    lld = bundle.manifest["config"]["lld"]
    audio, face = extract_lld(table, keys, bundle.needs_face, lld, progress)
    normalizer = with_face_means(bundle.normalizer, face, speakers)
    frame = fold_data.fold_functionals(audio, face, normalizer, bundle.pfa, utt_speaker=speakers)
    X, n_filled = bundle.imputer.transform(frame.set_index("utt_id").loc[keys, bundle.features])
    if n_filled:
        logger.warning(f"{n_filled} functionals could not be computed (no valid frame in a "
                       "channel); filled with the bundle's training means")
    return X


# ------------------------------------------------------------------------------- predict


def model_proba(bundle: Bundle, X: np.ndarray, conversations: pd.Series) -> np.ndarray:
    """Class probabilities in row order; a family that reads sequences ((B)LSTM) sees each
    conversation as one sequence in order (:func:`affectflow.models.scoring.score_utterances`)."""
    return scoring.score_utterances(bundle.model, bundle.manifest["family"], X,
                                    conversations.to_numpy(), len(bundle.classes))


def output_frame(bundle: Bundle, table: pd.DataFrame, proba: np.ndarray) -> pd.DataFrame:
    """The prediction table (see :meth:`Bundle.predict`)."""
    pred = proba.argmax(axis=1)
    out = pd.DataFrame({"conversation": table["conversation"].to_numpy(),
                        "utterance": table["utterance"].to_numpy(),
                        "class_id": pred.astype(np.int64)})
    out["class_name"] = [bundle.classes[i]["name"] for i in pred]
    for c in bundle.classes:
        out[f"p_{c['key']}"] = proba[:, c["id"]]
    out["meaning"] = [bundle.classes[i]["meaning"] for i in pred]
    return out


def predict_table(
    bundle: Bundle, table: pd.DataFrame, *, progress: bool = True
) -> pd.DataFrame:
    """Predict the utterances of an :func:`utterance_table`."""
    check_face_input(bundle, table)
    check_audio_input(table)
    X = functionals(bundle, table, progress)
    return output_frame(bundle, table, model_proba(bundle, X, table["conversation"]))


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
