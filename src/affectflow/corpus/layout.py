"""Facts about IEMOCAP's on-disk layout, shared by the reader and the synthetic generator.

Everything that both the real-corpus loader and the generator must agree on lives here, so
the synthetic path can never drift from the real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
SAMPLE_RATE = 16_000
MOCAP_FPS = 120
ROOT_NAME = "IEMOCAP_full_release"

#: Category codes of EmoEvaluation block headers (xxx = no majority among raters).
CATEGORY_CODES: tuple[str, ...] = (
    "neu", "fru", "ang", "sad", "hap", "exc", "sur", "fea", "dis", "oth", "xxx",
)

#: The 55 markers of MOCAP_rotated files, in file order.
MARKER_NAMES: tuple[str, ...] = (
    "CH1", "CH2", "CH3", "FH1", "FH2", "FH3",
    *(f"LC{i}" for i in range(1, 9)),
    *(f"RC{i}" for i in range(1, 9)),
    "LLID", "RLID", "MH", "MNOSE", "LNSTRL", "TNOSE", "RNSTRL",
    *(f"LBM{i}" for i in range(4)),
    *(f"RBM{i}" for i in range(4)),
    *(f"LBRO{i}" for i in range(1, 5)),
    *(f"RBRO{i}" for i in range(1, 5)),
    *(f"Mou{i}" for i in range(1, 9)),
    "LHD", "RHD",
)
assert len(MARKER_NAMES) == 55

NOSE_MARKERS: tuple[str, ...] = ("MH", "MNOSE", "LNSTRL", "TNOSE", "RNSTRL")
EYELID_MARKERS: tuple[str, ...] = ("LLID", "RLID")
HEAD_MARKERS: tuple[str, ...] = ("LHD", "RHD")
ORIGIN_MARKER = "TNOSE"

#: The paper's 46 face markers (138 coordinates): all but nose, eyelid and head markers.
FACE_MARKERS: tuple[str, ...] = tuple(
    m for m in MARKER_NAMES if m not in NOSE_MARKERS + EYELID_MARKERS + HEAD_MARKERS
)
assert len(FACE_MARKERS) == 46

#: Marker numbers used in the coordinate header line (``X01 Y01 Z01 ... X61 Y61 Z61``). Only
#: the token count (165) is checked when reading; the numbering is what the generator writes.
MARKER_NUMBERS: tuple[int, ...] = tuple(n for n in range(1, 62) if n not in (7, 15, 23, 31, 39, 47))
assert len(MARKER_NUMBERS) == 55

MOCAP_HEADER_LINE1 = "Frame# Time " + " ".join(MARKER_NAMES)
MOCAP_HEADER_LINE2 = " ".join(f"{a}{n:02d}" for n in MARKER_NUMBERS for a in "XYZ")
MOCAP_COLUMNS = 2 + 3 * len(MARKER_NAMES)  # frame, time, 165 coordinates

#: Utterance ids: Ses0[1-5][FM]_<impro0N[a|b] | scriptNN_M[b]>_[FM]NNN.
UTT_ID_RE = re.compile(
    r"^(?P<dialog>Ses0(?P<session>[1-5])(?P<wearer>[FM])_"
    r"(?:impro0[1-9][ab]?|script0[1-9]_[1-9][ab]?))_(?P<speaker>[FM])(?P<number>\d{3})$"
)
DIALOG_RE = re.compile(
    r"^Ses0(?P<session>[1-5])(?P<wearer>[FM])_(?:impro0[1-9][ab]?|script0[1-9]_[1-9][ab]?)$"
)


@dataclass(frozen=True)
class UttId:
    """The parts of an utterance id."""

    utt_id: str
    dialog: str
    session: int
    wearer_gender: str  # the actor wearing the face markers in this dialog
    speaker_gender: str  # the actor speaking this utterance
    number: int

    @property
    def speaker(self) -> str:
        """Speaker id, unique over the corpus: ``Ses01F``."""
        return speaker_id(self.session, self.speaker_gender)

    @property
    def is_wearer(self) -> bool:
        """Whether the speaker wears the face markers in this dialog."""
        return self.wearer_gender == self.speaker_gender


def speaker_id(session: int, gender: str) -> str:
    """The corpus-wide speaker id for a session number and gender letter (``Ses03M``)."""
    return f"Ses0{session}{gender}"


def parse_utt_id(utt_id: str) -> UttId | None:
    """Split an utterance id into its parts, or ``None`` if it does not match the pattern."""
    m = UTT_ID_RE.match(utt_id)
    if m is None:
        return None
    return UttId(
        utt_id=utt_id,
        dialog=m["dialog"],
        session=int(m["session"]),
        wearer_gender=m["wearer"],
        speaker_gender=m["speaker"],
        number=int(m["number"]),
    )


def session_dir(root: Path, session: int) -> Path:
    """``<root>/Session<N>``."""
    return Path(root) / f"Session{session}"


def emo_evaluation_dir(root: Path, session: int) -> Path:
    """Folder whose top-level ``*.txt`` files are the dialogs' evaluations."""
    return session_dir(root, session) / "dialog" / "EmoEvaluation"


def transcription_path(root: Path, session: int, dialog: str) -> Path:
    """``dialog/transcriptions/<dialog>.txt``."""
    return session_dir(root, session) / "dialog" / "transcriptions" / f"{dialog}.txt"


def wav_path(root: Path, session: int, dialog: str, utt_id: str) -> Path:
    """``sentences/wav/<dialog>/<utt>.wav``."""
    return session_dir(root, session) / "sentences" / "wav" / dialog / f"{utt_id}.wav"


def mocap_path(root: Path, session: int, dialog: str, utt_id: str) -> Path:
    """``sentences/MOCAP_rotated/<dialog>/<utt>.txt``."""
    return session_dir(root, session) / "sentences" / "MOCAP_rotated" / dialog / f"{utt_id}.txt"


def resolve_root(path: str | Path) -> Path:
    """Accept the ``IEMOCAP_full_release`` folder itself or the folder that contains it."""
    p = Path(path).expanduser()
    if (p / "Session1").is_dir() or any((p / f"Session{s}").is_dir() for s in SESSIONS):
        return p
    if (p / ROOT_NAME).is_dir():
        return p / ROOT_NAME
    raise FileNotFoundError(
        f"{p}: no Session1..5 folders here nor in {p / ROOT_NAME}; "
        "corpus.iemocap_root must name IEMOCAP_full_release or the folder holding it"
    )
