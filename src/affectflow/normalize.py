"""Per-fold normalisation of the LLDs (paper section 3.1); never looks at labels.

- Audio: z-standardisation of each of the 41 LLDs with the mean and standard deviation of the
  fold's training frames (pitch over voiced frames only: unvoiced frames are NaN and skipped;
  the standard deviation is floored at :data:`STD_FLOOR`).
- Face: speaker normalisation. Each speaker's mean of every coordinate is shifted onto the
  global mean, the mean over the training speakers of their per-speaker means:
  ``x - speaker_mean + global_mean``. Per-speaker means are kept for every speaker in the data;
  the test speaker's come from its own frames (unsupervised, like the paper's mapping of each
  subject's average face; no label is used). A face frame belongs to the actor wearing the
  markers in its dialog (MOCAP files always show the wearer), which for a non-wearer utterance
  is not its speaker; by default both are parsed from the utterance ids.
- Training-side statistics (the audio z-scores, the training speakers' face means and so the
  global mean) come from *training utterances* only: spoken by a training speaker and showing a
  training speaker's face (:meth:`affectflow.folds.FoldSplit.is_training_utterance`). With
  ``utterances: all`` this keeps out the partner's turns in dialogs where the test speaker wears
  the markers, whose frames show the test speaker's face.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from affectflow.corpus.layout import parse_utt_id, speaker_id
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS
from affectflow.io import write_npz

STD_FLOOR = 1e-6
#: Where a frame's speaker comes from: None (parsed from utt_id), utt_id -> speaker, or per row.
SpeakerSource = Mapping[str, str] | Sequence[str] | np.ndarray | pd.Series | None


@dataclass
class Normalizer:
    """Normalisation constants of one fold."""

    audio_mean: np.ndarray  # (41,) in AUDIO_LLDS order
    audio_std: np.ndarray  # (41,), floored
    face_global_mean: np.ndarray  # (138,) in FACE_COORDS order
    face_speaker_mean: dict[str, np.ndarray]  # speaker -> (138,), every speaker in the data
    train_speakers: tuple[str, ...] = ()
    audio_names: tuple[str, ...] = field(default=AUDIO_LLDS)
    face_names: tuple[str, ...] = field(default=FACE_COORDS)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically."""
        spk = sorted(self.face_speaker_mean)
        write_npz(
            path,
            audio_mean=np.asarray(self.audio_mean, dtype=np.float64),
            audio_std=np.asarray(self.audio_std, dtype=np.float64),
            face_global_mean=np.asarray(self.face_global_mean, dtype=np.float64),
            face_speakers=np.array(spk, dtype=str),
            face_speaker_mean=np.array(
                [self.face_speaker_mean[s] for s in spk], dtype=np.float64
            ).reshape(len(spk), len(self.face_names)),
            train_speakers=np.array(self.train_speakers, dtype=str),
            audio_names=np.array(self.audio_names, dtype=str),
            face_names=np.array(self.face_names, dtype=str),
        )

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as z:
            speakers = [str(s) for s in z["face_speakers"]]
            return cls(
                audio_mean=z["audio_mean"],
                audio_std=z["audio_std"],
                face_global_mean=z["face_global_mean"],
                face_speaker_mean=dict(zip(speakers, z["face_speaker_mean"], strict=True)),
                train_speakers=tuple(str(s) for s in z["train_speakers"]),
                audio_names=tuple(str(s) for s in z["audio_names"]),
                face_names=tuple(str(s) for s in z["face_names"]),
            )

    def apply_audio(self, df: pd.DataFrame) -> pd.DataFrame:
        """Copy of ``df`` with its audio LLD columns z-standardised (float32; NaN stays NaN)."""
        cols = [c for c in self.audio_names if c in df.columns]
        if not cols:
            return df.copy()
        idx = [self.audio_names.index(c) for c in cols]
        xt = _channel_major(df, cols)
        xt -= self.audio_mean[idx, None].astype(np.float32)
        xt /= self.audio_std[idx, None].astype(np.float32)
        return _replace_columns(df, cols, xt)

    def apply_face(self, df: pd.DataFrame, speakers_of_rows: SpeakerSource = None) -> pd.DataFrame:
        """Copy of ``df`` with each speaker's face coordinates shifted onto the global mean.

        ``speakers_of_rows``: see :func:`frame_speakers` (``None``: the face-marker wearer,
        parsed from ``utt_id``).
        """
        cols = [c for c in self.face_names if c in df.columns]
        if not cols or len(df) == 0:
            return df.copy()
        idx = [self.face_names.index(c) for c in cols]
        codes, uniques = pd.factorize(frame_speakers(df, speakers_of_rows, face=True))
        unknown = [s for s in uniques if s not in self.face_speaker_mean]
        if unknown:
            raise ValueError(f"no face means for speakers {unknown}; refit the normaliser")
        shifts = np.stack(
            [self.face_global_mean[idx] - self.face_speaker_mean[s][idx] for s in uniques], axis=1
        ).astype(np.float32)  # (coordinates, speakers)
        xt = _channel_major(df, cols)
        xt += shifts[:, codes]
        return _replace_columns(df, cols, xt)


def _channel_major(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Writable float32 copy of ``df[cols]`` as ``(columns, rows)``; pandas stores columns
    this way, so the copy is a plain memory copy rather than a transpose."""
    return np.array(df[cols].to_numpy(dtype=np.float32).T, dtype=np.float32, order="C")


def _replace_columns(df: pd.DataFrame, cols: list[str], xt: np.ndarray) -> pd.DataFrame:
    """Copy of ``df`` with ``cols`` replaced by the rows of ``xt`` (``(columns, rows)``)."""
    new = pd.DataFrame(xt.T, columns=cols, index=df.index, copy=False)
    rest = df.drop(columns=cols)
    out = pd.concat([rest, new], axis=1)
    return out if list(out.columns) == list(df.columns) else out[list(df.columns)]


def speakers_from_ids(utt_ids: pd.Series, *, face_owner: bool = False) -> pd.Series:
    """Speaker of each utterance id, parsed from the id itself (same index).

    ``face_owner=True`` gives the actor who wears the face markers in the utterance's dialog
    instead (``Ses01F_impro01_M000`` -> ``Ses01F``): MOCAP files always show the wearer's face,
    so that is whose face a face frame shows. For the paper's wearer-only utterances the two
    are the same.
    """
    codes, uniques = pd.factorize(utt_ids.astype(str))
    speakers = []
    for utt in uniques:
        parsed = parse_utt_id(utt)
        if parsed is None:
            raise ValueError(f"cannot tell the speaker of {utt!r}: not an IEMOCAP utterance id")
        gender = parsed.wearer_gender if face_owner else parsed.speaker_gender
        speakers.append(speaker_id(parsed.session, gender))
    return pd.Series(np.asarray(speakers, dtype=object)[codes], index=utt_ids.index, dtype=object)


def frame_speakers(
    df: pd.DataFrame, speakers_of_rows: SpeakerSource = None, *, face: bool = False
) -> np.ndarray:
    """Speaker of every row of an LLD frame table (object array).

    ``speakers_of_rows``: ``None`` (parse the ``utt_id`` column: the utterance's speaker, or
    with ``face=True`` the face-marker wearer, whose face the frames show), a mapping
    utt_id -> speaker, or one speaker per row (sequence, array or Series of the same length).
    """
    if speakers_of_rows is None:
        return speakers_from_ids(df["utt_id"], face_owner=face).to_numpy(dtype=object)
    if isinstance(speakers_of_rows, Mapping):
        mapped = df["utt_id"].map(speakers_of_rows)
        if mapped.isna().any():
            missing = df.loc[mapped.isna(), "utt_id"].iloc[0]
            raise ValueError(f"no speaker for utterance {missing}")
        return mapped.astype(str).to_numpy(dtype=object)
    arr = np.asarray(speakers_of_rows, dtype=object)
    if len(arr) != len(df):
        raise ValueError(f"{len(arr)} speakers for {len(df)} rows")
    return arr


def training_rows(
    df: pd.DataFrame, speakers_of_rows: SpeakerSource, train_speakers: Iterable[str]
) -> np.ndarray:
    """Boolean mask of the rows of a frame table that belong to training utterances: spoken by
    a training speaker *and* showing a training speaker's face (see the module docstring)."""
    train = list(train_speakers)
    spoken = np.isin(frame_speakers(df, speakers_of_rows), train)
    shown = np.isin(frame_speakers(df, speakers_of_rows, face=True), train)
    return spoken & shown


def nan_mean(x: np.ndarray) -> np.ndarray:
    """Column means ignoring NaN (an all-NaN column is NaN, silently); float64."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN, on purpose
        return np.nanmean(x, axis=0, dtype=np.float64)


def fit_normalizer(
    audio: pd.DataFrame,
    face: pd.DataFrame,
    utt_speaker: SpeakerSource,
    train_speakers: Iterable[str],
    *,
    std_floor: float = STD_FLOOR,
) -> Normalizer:
    """Fit the audio z-scores on the training speakers' frames and the face means per speaker.

    ``audio``/``face``: LLD frame tables (``utt_id`` + LLD columns) of the fold's utterances;
    ``utt_speaker``: ``None`` (recommended) parses the ids: the speaker for audio frames and
    the face-marker wearer for face frames (they differ only for non-wearer utterances); a
    mapping utt_id -> speaker or a per-row sequence (tables aligned) is used for both.
    """
    train = tuple(sorted(set(train_speakers)))
    a_train = training_rows(audio, utt_speaker, train)
    if not a_train.any():
        raise ValueError(f"no audio frames of the training speakers {train}")
    mean = np.empty(len(AUDIO_LLDS))
    std = np.empty(len(AUDIO_LLDS))
    for j, name in enumerate(AUDIO_LLDS):
        col = audio[name].to_numpy()[a_train].astype(np.float64)
        col = col[~np.isnan(col)]
        if len(col) == 0:
            raise ValueError(f"audio LLD {name} has no valid training frame")
        mean[j] = col.mean()
        std[j] = max(col.std(), std_floor)

    f_spk = frame_speakers(face, utt_speaker, face=True)
    f_train = training_rows(face, utt_speaker, train)
    codes, uniques = pd.factorize(f_spk)
    values = face[list(FACE_COORDS)].to_numpy()
    # A training speaker's mean from training utterances only; any other (the test speaker's)
    # from all frames showing that face.
    speaker_mean = {
        str(s): nan_mean(values[(codes == k) & (f_train if s in train else True)])
        for k, s in enumerate(uniques)
    }
    train_means = [speaker_mean[s] for s in train if s in speaker_mean]
    if not train_means:
        raise ValueError(f"no face frames of the training speakers {train}")
    global_mean = nan_mean(np.stack(train_means))
    return Normalizer(
        audio_mean=mean,
        audio_std=std,
        face_global_mean=global_mean,
        face_speaker_mean=dict(sorted(speaker_mean.items())),
        train_speakers=train,
    )
