"""IEMOCAP reader: walk a corpus in IEMOCAP's layout and build the utterance index.

The same code reads the real corpus and the generated one. Every utterance of every
EmoEvaluation file either lands in the index or, in lenient mode, in the exclusion table with
the file, line and reason; in strict mode the first problem raises :class:`CorpusError`.
File checks read only headers (RIFF/WAVE chunks, the first mocap line), so indexing ~10k
utterances takes seconds.
"""

from __future__ import annotations

import logging
import wave
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from affectflow.corpus.emo_evaluation import EvalBlock, scan_emo_evaluation
from affectflow.corpus.layout import (
    SAMPLE_RATE,
    SESSIONS,
    UttId,
    emo_evaluation_dir,
    mocap_path,
    parse_utt_id,
    resolve_root,
    session_dir,
    wav_path,
)
from affectflow.errors import ConfigError, CorpusError
from affectflow.io import write_parquet, write_tsv

logger = logging.getLogger(__name__)

INDEX_DTYPES: dict[str, str] = {
    "utt_id": "str", "session": "int8", "dialog": "str", "speaker": "str", "gender": "str",
    "wearer": "bool", "start": "float64", "end": "float64", "turn": "int32",
    "valence": "float64", "activation": "float64", "dominance": "float64", "code": "str",
    "wav": "str", "mocap": "str",
}
INDEX_COLUMNS: tuple[str, ...] = tuple(INDEX_DTYPES)
EXCLUDED_COLUMNS: tuple[str, ...] = ("utt_id", "file", "line", "reason")
SELECTIONS: tuple[str, ...] = ("wearer_only", "all")
UTT_ID_PATTERN = "Ses0[1-5][FM]_<impro0N[a|b] | script0N_M[b]>_[FM]NNN"


@dataclass(frozen=True)
class _Problem:
    utt_id: str
    file: Path
    line: int
    reason: str


@dataclass(frozen=True)
class _Candidate:
    """A parsed block whose id checks passed, with where it came from."""

    block: EvalBlock
    uid: UttId
    file: Path


class _Sink:
    """Raise a problem (strict) or record it for ``excluded.tsv`` (lenient)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.problems: list[_Problem] = []

    def report(self, problem: _Problem) -> None:
        if self.strict:
            raise CorpusError(problem.file, problem.reason, line=problem.line)
        self.problems.append(problem)


def build_index(
    root: str | Path,
    strict: bool = True,
    check_files: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index every utterance under ``root`` (``IEMOCAP_full_release`` or its parent).

    Returns ``(index, excluded)`` with the columns of docs/architecture.md; the index is sorted
    by dialog and turn (order by start time within the dialog, ties by utterance id). Progress:
    one INFO line per session (:mod:`affectflow.logs`).
    """
    base = _resolve(root)
    sink = _Sink(strict)
    candidates: list[_Candidate] = []
    n_files = 0
    for session in SESSIONS:
        if not session_dir(base, session).is_dir():
            continue
        files = evaluation_files(base, session)
        n_files += len(files)
        found = [c for path in files for c in _read_file(path, session, sink)]
        logger.info(f"Session{session}: {len(files)} dialogs, {len(found)} utterances")
        candidates.extend(found)
    if n_files == 0:
        raise CorpusError(base, "no EmoEvaluation files; expected Session<N>/dialog/"
                          "EmoEvaluation/<dialog>.txt")
    kept = _drop_duplicates(candidates, sink)
    if check_files:
        kept = [c for c in kept if _files_ok(base, c, sink)]
    index = _index_frame([_row(base, c) for c in kept])
    excluded = _excluded_frame(sink.problems)
    logger.info(f"indexed {len(index)} utterances, {len(excluded)} excluded")
    return index, excluded


def evaluation_files(root: Path, session: int) -> list[Path]:
    """The top-level ``*.txt`` evaluation files of a session (subfolders and ``._*`` ignored)."""
    folder = emo_evaluation_dir(root, session)
    if not folder.is_dir():
        raise CorpusError(folder, "missing folder; expected Session<N>/dialog/EmoEvaluation/")
    return sorted(
        p for p in folder.iterdir()
        if p.suffix == ".txt" and not p.name.startswith(".") and p.is_file()
    )


def select_utterances(index: pd.DataFrame, which: str) -> pd.DataFrame:
    """Rows to use: ``wearer_only`` (the paper: speaker wears the markers) or ``all``."""
    if which == "wearer_only":
        return index[index["wearer"]].reset_index(drop=True)
    if which == "all":
        return index.reset_index(drop=True)
    raise ConfigError(f"utterance selection {which!r}: expected one of {', '.join(SELECTIONS)}")


def read_index(path: str | Path, utterances: str = "all") -> pd.DataFrame:
    """The corpus index (``utterances.parquet``), restricted to ``wearer_only`` or ``all``."""
    return select_utterances(pd.read_parquet(path), utterances)


def write_index(
    index: pd.DataFrame,
    excluded: pd.DataFrame,
    index_path: str | Path,
    excluded_path: str | Path,
) -> None:
    """Write the index (Parquet) and the exclusions (TSV), each atomically."""
    write_parquet(index, index_path)
    write_tsv(excluded, excluded_path)


def _resolve(root: str | Path) -> Path:
    try:
        return resolve_root(root).resolve()
    except FileNotFoundError as err:
        raise CorpusError(
            root, "expected Session1..5 folders here or in its IEMOCAP_full_release subfolder"
        ) from err


def _read_file(path: Path, session: int, sink: _Sink) -> Iterator[_Candidate]:
    """Blocks of one evaluation file that parse and whose ids fit the file and session."""
    blocks, bad = scan_emo_evaluation(path)
    for b in bad:
        sink.report(_Problem(b.utt_id, path, b.line, b.reason))
    for block in blocks:
        uid, reason = _check_id(block.utt_id, path.stem, session)
        if uid is None:
            sink.report(_Problem(block.utt_id, path, block.line, reason))
        else:
            yield _Candidate(block, uid, path)


def _check_id(utt_id: str, dialog: str, session: int) -> tuple[UttId | None, str]:
    uid = parse_utt_id(utt_id)
    if uid is None:
        return None, f"utterance id {utt_id!r} does not match {UTT_ID_PATTERN}"
    if uid.dialog != dialog:
        return None, (f"utterance id {utt_id!r} belongs to dialog {uid.dialog!r}; expected "
                      f"dialog {dialog!r} (the file's name)")
    if uid.session != session:
        return None, (f"utterance id {utt_id!r} is from session {uid.session}; expected "
                      f"session {session} (the folder Session{session})")
    return uid, ""


def _drop_duplicates(candidates: list[_Candidate], sink: _Sink) -> list[_Candidate]:
    """Exclude every occurrence of an id that occurs more than once (within or across files)."""
    groups: dict[str, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        groups[c.block.utt_id].append(c)
    for utt_id, group in groups.items():
        for c in group if len(group) > 1 else ():
            other = group[1] if c is group[0] else group[0]
            sink.report(_Problem(
                utt_id, c.file, c.block.line,
                f"duplicate utterance id {utt_id!r} (also at {other.file}:{other.block.line}); "
                "expected each id once in the corpus",
            ))
    return [c for c in candidates if len(groups[c.block.utt_id]) == 1]


def _files_ok(base: Path, c: _Candidate, sink: _Sink) -> bool:
    uid = c.uid
    for problem in (
        _check_wav(wav_path(base, uid.session, uid.dialog, uid.utt_id)),
        _check_mocap(mocap_path(base, uid.session, uid.dialog, uid.utt_id)),
    ):
        if problem:
            sink.report(_Problem(uid.utt_id, c.file, c.block.line, f"{uid.utt_id}: {problem}"))
            return False
    return True


def _check_wav(path: Path) -> str:
    """Empty if ``path`` is a readable 16 kHz mono 16-bit PCM wav (header only), else why not."""
    try:
        with wave.open(str(path), "rb") as w:
            shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            n_frames = w.getnframes()
    except FileNotFoundError:
        return f"missing wav file {path}"
    except (wave.Error, EOFError, OSError) as err:
        return f"unreadable wav file {path} ({err}); expected a RIFF/WAVE PCM file"
    if shape != (1, 2, SAMPLE_RATE):
        ch, width, rate = shape
        return (f"wav file {path} is {ch} channel(s), {8 * width}-bit, {rate} Hz; expected "
                f"mono 16-bit {SAMPLE_RATE} Hz")
    if n_frames == 0:
        return f"wav file {path} has no samples; expected audio"
    return ""


def _check_mocap(path: Path) -> str:
    """Empty if the first line of ``path`` starts with ``Frame#``, else why not."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(256)
    except FileNotFoundError:
        return f"missing mocap file {path}"
    except OSError as err:
        return f"unreadable mocap file {path} ({err})"
    if not first.startswith(b"Frame#"):
        return f"unreadable mocap file {path}: expected a first line starting with 'Frame#'"
    return ""


def _row(base: Path, c: _Candidate) -> dict[str, object]:
    uid, b = c.uid, c.block
    return {
        "utt_id": uid.utt_id, "session": uid.session, "dialog": uid.dialog,
        "speaker": uid.speaker, "gender": uid.speaker_gender, "wearer": uid.is_wearer,
        "start": b.start, "end": b.end, "turn": 0, "valence": b.valence,
        "activation": b.activation, "dominance": b.dominance, "code": b.code,
        "wav": str(wav_path(base, uid.session, uid.dialog, uid.utt_id)),
        "mocap": str(mocap_path(base, uid.session, uid.dialog, uid.utt_id)),
    }


def _index_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Rows -> typed index sorted by dialog and turn (turn = order by start, then id)."""
    df = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    df = df.sort_values(["dialog", "start", "utt_id"], kind="stable").reset_index(drop=True)
    df["turn"] = df.groupby("dialog").cumcount()
    return df.astype(INDEX_DTYPES)


def _excluded_frame(problems: list[_Problem]) -> pd.DataFrame:
    df = pd.DataFrame(
        [(p.utt_id, str(p.file), p.line, p.reason) for p in problems],
        columns=list(EXCLUDED_COLUMNS),
    )
    df = df.sort_values(["file", "line"], kind="stable").reset_index(drop=True)
    return df.astype({"utt_id": "str", "file": "str", "line": "int64", "reason": "str"})
