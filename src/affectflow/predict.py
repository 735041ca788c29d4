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
from affectflow.errors import CorpusError
from affectflow.features import grid
from affectflow.features.groups import FACE_COORDS
from affectflow.impute import MeanImputer
from affectflow.models import scoring
from affectflow.normalize import Normalizer, nan_mean
from affectflow.predict_io import INPUT_COLUMNS as INPUT_COLUMNS
from affectflow.predict_io import PathList as PathList
from affectflow.predict_io import PredictError as PredictError
from affectflow.predict_io import check_audio_input as check_audio_input
from affectflow.predict_io import check_face_input as check_face_input
from affectflow.predict_io import check_output_path as check_output_path
from affectflow.predict_io import read_input as read_input
from affectflow.predict_io import utterance_table as utterance_table
from affectflow.predict_io import write_output as write_output
from affectflow.selection.pfa import PFAResult

logger = logging.getLogger(__name__)

#: Inputs with at least this many utterances get a progress bar.
PROGRESS_MIN = 20
#: Prefix of the face "speaker" of a conversation (never a corpus speaker id).
_CONVERSATION = "conversation:"

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
