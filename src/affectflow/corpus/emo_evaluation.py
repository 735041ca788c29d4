"""Parser for IEMOCAP's ``dialog/EmoEvaluation/<dialog>.txt`` files.

A file is a ``%`` comment line, then blocks separated by blank lines. A block is a header
``[start - end]<TAB>utt_id<TAB>code<TAB>[V, A, D]`` followed by rater lines: categorical
``C-E2:<TAB>Neutral;<TAB>(comment)`` and attribute ``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()``.
Raters ``E<n>`` are external; ``F<n>``/``M<n>`` are the speakers' self-evaluations, kept apart
so they can never enter a rater average. The summary V/A/D come from the header.

The parser checks syntax and value ranges only; what the ids mean (pattern, dialog, duplicates,
files on disk) is checked by :mod:`affectflow.corpus.iemocap`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from affectflow.corpus.layout import CATEGORY_CODES
from affectflow.errors import CorpusError

EXPECTED_HEADER = "'[start - end]<TAB>utt_id<TAB>code<TAB>[V, A, D]'"
EXPECTED_RATER = "a rater line 'C-<rater>:<TAB>...' or 'A-<rater>:<TAB>...' (rater E1, F1, M1..)"
EXPECTED_CATEGORICAL = "'C-<rater>:<TAB>Category; [Category; ...]<TAB>(comment)'"
EXPECTED_ATTRIBUTE = "'A-<rater>:<TAB>val <n>; act <n>; dom <n or empty>;<TAB>(comment)'"
VALUE_RANGE = (1.0, 5.0)

_NUM = r"[-+]?\d+(?:\.\d+)?"
_HEADER_RE = re.compile(
    rf"^\[\s*(?P<start>{_NUM})\s*-\s*(?P<end>{_NUM})\s*\]\t(?P<utt>\S+)\t(?P<code>\S+)\t"
    rf"\[\s*(?P<v>{_NUM})\s*,\s*(?P<a>{_NUM})\s*,\s*(?P<d>{_NUM})?\s*\]\s*$"
)
_RATER_RE = re.compile(r"^(?P<kind>[CA])-(?P<rater>[EFM]\d+): *\t?(?P<body>[^\t]*)(?:\t.*)?$")
_ATTRIBUTE_RE = re.compile(
    rf"^val\s*(?P<val>{_NUM})\s*;\s*act\s*(?P<act>{_NUM})\s*;\s*dom\s*(?P<dom>{_NUM})?\s*;?\s*$"
)
_UTT_GUESS_RE = re.compile(r"\bSes\S+")


class AttributeRating(NamedTuple):
    """One rater's dimensional rating of an utterance (``dominance`` may be left empty)."""

    rater: str
    valence: float
    activation: float
    dominance: float | None


@dataclass(frozen=True)
class EvalBlock:
    """One utterance's evaluation block; ``line`` is the 1-based line of its header."""

    utt_id: str
    start: float
    end: float
    code: str
    valence: float
    activation: float
    dominance: float  # NaN when the header leaves it empty
    line: int
    ratings: tuple[AttributeRating, ...] = ()  # external raters (E1..) only
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()  # external raters only
    self_ratings: tuple[AttributeRating, ...] = ()  # speakers' self-evaluations (F1.., M1..)
    self_categories: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def rater_means(self) -> tuple[float, float, float]:
        """Mean (V, A, D) over the external raters (self-evaluations excluded); NaN if none."""
        return (
            _mean(r.valence for r in self.ratings),
            _mean(r.activation for r in self.ratings),
            _mean(r.dominance for r in self.ratings),
        )


@dataclass(frozen=True)
class BadBlock:
    """A block (or stray line) that could not be parsed: where, and what was expected."""

    utt_id: str  # best guess from the offending block; "" when none can be found
    line: int
    reason: str


def parse_emo_evaluation(path: Path) -> list[EvalBlock]:
    """Parse an EmoEvaluation file; raise :class:`CorpusError` at the first malformed line."""
    blocks, bad = scan_emo_evaluation(path)
    if bad:
        raise CorpusError(path, bad[0].reason, line=bad[0].line)
    return blocks


def scan_emo_evaluation(path: Path) -> tuple[list[EvalBlock], list[BadBlock]]:
    """Parse an EmoEvaluation file leniently: good blocks, and one :class:`BadBlock` per bad one.

    A bad block is skipped whole (header and rater lines), so one malformed line never drops
    more than its own utterance.
    """
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    blocks: list[EvalBlock] = []
    bad: list[BadBlock] = []
    for chunk in _chunks(text.split("\n")):
        try:
            blocks.append(_parse_block(chunk))
        except _BlockError as err:
            bad.append(BadBlock(_guess_utt_id(chunk[0][1]), err.line, err.reason))
    return blocks, bad


class _BlockError(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _chunks(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Group (line number, text) into blocks; a blank line or a header-like line starts one.

    A line counts as header-like if it starts with ``[`` or has a tab-separated utterance id,
    so a header with a damaged bracket is still reported under its own utterance.
    """
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if line.startswith("%"):
            continue
        if not line.strip() or _looks_like_header(line):
            if current:
                chunks.append(current)
            current = [(number, line)] if line.strip() else []
        else:
            current.append((number, line))
    if current:
        chunks.append(current)
    return chunks


def _parse_block(chunk: list[tuple[int, str]]) -> EvalBlock:
    number, header = chunk[0]
    m = _HEADER_RE.match(header)
    if m is None:
        raise _BlockError(number, f"expected {EXPECTED_HEADER}, got {header.strip()!r}")
    start, end = float(m["start"]), float(m["end"])
    valence, activation = float(m["v"]), float(m["a"])
    dominance = float(m["d"]) if m["d"] is not None else math.nan
    _check_header_values(number, m["utt"], m["code"], start, end, valence, activation)
    ratings: dict[bool, list[AttributeRating]] = {True: [], False: []}
    categories: dict[bool, list[tuple[str, tuple[str, ...]]]] = {True: [], False: []}
    for line_no, line in chunk[1:]:
        kind, rater, value = _parse_rater_line(line_no, line)
        external = rater.startswith("E")
        if kind == "A":
            ratings[external].append(value)
        else:
            categories[external].append((rater, value))
    return EvalBlock(
        utt_id=m["utt"], start=start, end=end, code=m["code"], valence=valence,
        activation=activation, dominance=dominance, line=number,
        ratings=tuple(ratings[True]), categories=tuple(categories[True]),
        self_ratings=tuple(ratings[False]), self_categories=tuple(categories[False]),
    )


def _check_header_values(
    number: int, utt_id: str, code: str, start: float, end: float, valence: float,
    activation: float,
) -> None:
    if code not in CATEGORY_CODES:
        raise _BlockError(
            number, f"{utt_id}: unknown category code {code!r}; expected one of "
            + ", ".join(CATEGORY_CODES),
        )
    if not start < end:
        raise _BlockError(
            number, f"{utt_id}: start {start} is not before end {end}; expected start < end"
        )
    lo, hi = VALUE_RANGE
    for name, value in (("valence", valence), ("activation", activation)):
        if not lo <= value <= hi:
            raise _BlockError(
                number, f"{utt_id}: {name} {value} outside {lo:g}..{hi:g}; expected a rater mean"
            )


def _parse_rater_line(number: int, line: str) -> tuple[str, str, object]:
    """``(kind, rater, value)``: categories for ``C`` lines, an AttributeRating for ``A``."""
    m = _RATER_RE.match(line)
    if m is None:
        raise _BlockError(number, f"expected {EXPECTED_RATER}, got {line.strip()!r}")
    kind, rater, body = m["kind"], m["rater"], m["body"].strip()
    if kind == "C":
        cats = tuple(c.strip() for c in body.split(";") if c.strip())
        if not cats:
            raise _BlockError(number, f"expected {EXPECTED_CATEGORICAL}, got {line.strip()!r}")
        return kind, rater, cats
    a = _ATTRIBUTE_RE.match(body)
    if a is None:
        raise _BlockError(number, f"expected {EXPECTED_ATTRIBUTE}, got {line.strip()!r}")
    dom = float(a["dom"]) if a["dom"] is not None else None
    return kind, rater, AttributeRating(rater, float(a["val"]), float(a["act"]), dom)


def _looks_like_header(line: str) -> bool:
    if line.startswith("["):
        return True
    return any(_UTT_GUESS_RE.fullmatch(f.strip()) for f in line.split("\t")[:3])


def _guess_utt_id(header: str) -> str:
    """The utterance id a malformed header most likely names (for the exclusion record)."""
    for field in header.split("\t"):
        if _UTT_GUESS_RE.fullmatch(field.strip()):
            return field.strip()
    m = _UTT_GUESS_RE.search(header)
    return m.group(0) if m else ""


def _mean(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else math.nan
