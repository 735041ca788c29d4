"""Leave-one-speaker-out folds: which speaker is tested, which one stops the (B)LSTM early.

A fold is named after its test speaker. Every other speaker is a training speaker; the
normalisers, PFA, CFS, the label clusters, the SVM and the HMMs are fit on all of them.
Only the (B)LSTM's early stopping holds one training speaker out as the validation speaker.

Validation rule: the other speaker of the test speaker's session (test ``Ses01F`` ->
validation ``Ses01M``), so that each fold keeps four complete sessions for training the
network; if that speaker is not in the data, the first training speaker in sorted order.

Utterances, not only speakers, have roles (:meth:`FoldSplit.utterance_role`). An utterance has
two people in it: its speaker (the voice) and the dialog's marker wearer (the face: MOCAP files
always show the wearer). With ``corpus.utterances: all`` the two differ for the partner's turns,
so a training speaker's turn in a dialog where the *test* speaker wears the markers carries the
test speaker's face (and a conversation coupled with the test rows). Such a turn is left out of
the fold: no training-side artifact or model (normaliser, PFA, clusters, CFS, SVM, HMMs, (B)LSTM)
ever sees a frame of the test speaker. Likewise a training speaker's turn in a dialog the
*validation* speaker wears is a validation row, so the (B)LSTM's weights never see the
validation speaker's face. With the paper's ``wearer_only`` both people are the same and the
roles are the speakers' roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from affectflow import io
from affectflow.targets import FINAL_FOLD

#: Test speaker of the final models' pseudo-fold: none (every speaker trains).
NO_TEST_SPEAKER = ""


@dataclass(frozen=True)
class FoldSplit:
    """Speakers of one fold. ``train`` includes the validation speaker."""

    test: str
    validation: str
    train: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.test in self.train:
            raise ValueError(f"test speaker {self.test} is also a training speaker")
        if self.validation not in self.train:
            raise ValueError(f"validation speaker {self.validation} is not a training speaker")

    @property
    def train_for_early_stopping(self) -> tuple[str, ...]:
        """Training speakers of the (B)LSTM weights: ``train`` without the validation speaker."""
        return tuple(s for s in self.train if s != self.validation)

    def role(self, speaker: str) -> str:
        """``"test"``, ``"validation"`` or ``"train"``; ``KeyError`` if not in the fold."""
        if speaker == self.test:
            return "test"
        if speaker == self.validation:
            return "validation"
        if speaker in self.train:
            return "train"
        raise KeyError(f"speaker {speaker!r} is not part of fold {self.test}")

    def utterance_role(self, speaker: str, face_owner: str) -> str | None:
        """Role of an utterance spoken by ``speaker`` whose face frames show ``face_owner``:
        ``"test"``, ``"validation"``, ``"train"``, or ``None`` when it shows the test speaker's
        face but is not the test speaker's turn (left out; see the module docstring)."""
        if speaker == self.test:
            return "test"
        if face_owner == self.test:
            return None
        if self.validation in (speaker, face_owner):
            return "validation"
        return self.role(speaker)

    def is_training_utterance(self, speaker: str, face_owner: str) -> bool:
        """Whether an utterance may enter training-side statistics (role train or validation)."""
        return speaker in self.train and face_owner in self.train


def speakers(index: pd.DataFrame | Iterable[str]) -> list[str]:
    """Sorted distinct speaker ids of an index DataFrame (its ``speaker`` column) or a list."""
    values = index["speaker"] if isinstance(index, pd.DataFrame) else index
    return sorted({str(s) for s in values})


def session_partner(speaker: str) -> str:
    """The other speaker of the same session: ``Ses01F`` <-> ``Ses01M``."""
    if len(speaker) < 2 or speaker[-1] not in "FM":
        raise ValueError(f"{speaker!r} is not a speaker id like 'Ses01F'")
    return speaker[:-1] + ("M" if speaker[-1] == "F" else "F")


def make_split(index: pd.DataFrame | Iterable[str], test_speaker: str) -> FoldSplit:
    """The fold that tests ``test_speaker`` (see the module docstring for the validation rule)."""
    all_speakers = speakers(index)
    if test_speaker not in all_speakers:
        raise ValueError(f"test speaker {test_speaker!r} not among {all_speakers}")
    train = tuple(s for s in all_speakers if s != test_speaker)
    if not train:
        raise ValueError("leave-one-speaker-out needs at least two speakers")
    partner = session_partner(test_speaker)
    validation = partner if partner in train else train[0]
    return FoldSplit(test=test_speaker, validation=validation, train=train)


def all_splits(index: pd.DataFrame | Iterable[str]) -> list[FoldSplit]:
    """One split per speaker, in sorted speaker order."""
    return [make_split(index, s) for s in speakers(index)]


def split_to_json(split: FoldSplit) -> dict[str, Any]:
    """``{"test": ..., "validation": ..., "train": [...]}`` as in ``split.json``."""
    return {"test": split.test, "validation": split.validation, "train": list(split.train)}


def split_from_json(obj: Mapping[str, Any]) -> FoldSplit:
    """Inverse of :func:`split_to_json`."""
    return FoldSplit(
        test=str(obj["test"]),
        validation=str(obj["validation"]),
        train=tuple(str(s) for s in obj["train"]),
    )


def read_split(path: str | Path) -> FoldSplit:
    """A fold's speakers from ``split.json``."""
    return split_from_json(io.read_json(path))


def fold_split(index: pd.DataFrame | Iterable[str], fold: str) -> FoldSplit:
    """The split of ``fold``: a LOSO fold named after its test speaker, or the final models'
    pseudo-fold :data:`affectflow.targets.FINAL_FOLD`."""
    return all_speakers_split(index) if fold == FINAL_FOLD else make_split(index, fold)


def all_speakers_split(index: pd.DataFrame | Iterable[str]) -> FoldSplit:
    """Pseudo-fold of the final models: every speaker trains and none is tested; the last
    speaker in sorted order is the validation speaker ((B)LSTM early stopping only)."""
    names = speakers(index)
    if len(names) < 2:
        raise ValueError(f"final models need two speakers (one stops training), got {names}")
    return FoldSplit(test=NO_TEST_SPEAKER, validation=names[-1], train=tuple(names))
