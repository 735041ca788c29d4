"""IEMOCAP reader and corpus index, on hand-written snippets in the real file format."""

from __future__ import annotations

import math
import wave
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import pytest

from affectflow.corpus.emo_evaluation import (
    AttributeRating,
    parse_emo_evaluation,
    scan_emo_evaluation,
)
from affectflow.corpus.iemocap import (
    EXCLUDED_COLUMNS,
    INDEX_COLUMNS,
    build_index,
    select_utterances,
    write_index,
)
from affectflow.corpus.layout import (
    MOCAP_COLUMNS,
    MOCAP_HEADER_LINE1,
    MOCAP_HEADER_LINE2,
    ROOT_NAME,
    emo_evaluation_dir,
    mocap_path,
    wav_path,
)
from affectflow.errors import ConfigError, CorpusError

# --- a real-format snippet (CRLF endings added where a test needs them) -----------------------

SNIPPET = """\
% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tFrustration; Anger;\t(irritated, tense)
C-F1:\tNeutral;\t(curious)
A-E3:\tval 3; act 2; dom  2;\t()
A-E4:\tval 2; act 3; dom  ;\t(mildly aggravated but staying polite, attitude)
A-F1:\tval 5; act 5; dom  1;\t()

[7.5712 - 10.4750]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.0000]
C-E1:\tFrustration;\t()
C-M1:\tAnger;\t()
A-E1:\tval 2; act 4; dom  3;\t()
A-M1:\tval 1; act 1; dom  1;\t()
"""


def test_parse_snippet_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_bytes(SNIPPET.replace("\n", "\r\n").encode())
    f000, m000 = parse_emo_evaluation(path)
    assert (f000.utt_id, f000.start, f000.end, f000.code, f000.line) == (
        "Ses01F_impro01_F000",
        6.2901,
        8.2357,
        "neu",
        3,
    )
    assert (m000.utt_id, m000.code, m000.line) == ("Ses01F_impro01_M000", "fru", 11)
    assert (m000.valence, m000.activation, m000.dominance) == (2.0, 3.5, 3.0)
    # several categories for one rater, no stray "\r" anywhere
    assert f000.categories == (("E2", ("Neutral",)), ("E3", ("Frustration", "Anger")))
    assert f000.self_categories == (("F1", ("Neutral",)),)
    # empty dom value -> None; self-evaluations kept apart from the external ratings
    assert f000.ratings == (
        AttributeRating("E3", 3.0, 2.0, 2.0),
        AttributeRating("E4", 2.0, 3.0, None),
    )
    assert f000.self_ratings == (AttributeRating("F1", 5.0, 5.0, 1.0),)
    assert m000.self_ratings == (AttributeRating("M1", 1.0, 1.0, 1.0),)


def test_rater_means_exclude_self_evaluations(tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(SNIPPET)
    f000, m000 = parse_emo_evaluation(path)
    assert f000.rater_means() == (2.5, 2.5, 2.0)  # F1's 5/5/1 left out; empty dom skipped
    assert m000.rater_means() == (2.0, 4.0, 3.0)  # M1's 1/1/1 left out
    # the summary values are the header's, never recomputed
    assert (f000.valence, f000.activation, f000.dominance) == (2.5, 2.5, 2.5)


def test_header_with_empty_dominance_gives_nan(tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text("[1.0000 - 2.0000]\tSes01F_impro01_F000\tneu\t[2.5000, 3.0000, ]\n")
    (block,) = parse_emo_evaluation(path)
    assert math.isnan(block.dominance) and block.activation == 3.0


def test_scan_skips_only_the_bad_block(tmp_path: Path) -> None:
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(SNIPPET.replace("A-E4:\tval 2;", "A-E4:\tvalence 2;"))
    blocks, bad = scan_emo_evaluation(path)
    assert [b.utt_id for b in blocks] == ["Ses01F_impro01_M000"]
    assert [(b.utt_id, b.line) for b in bad] == [("Ses01F_impro01_F000", 8)]
    assert "val <n>; act <n>" in bad[0].reason


# --- tiny fake corpora ------------------------------------------------------------------------


@dataclass
class Block:
    utt: str
    start: float
    end: float
    code: str = "neu"
    vad: str = "[2.5000, 3.0000, 2.0000]"
    raters: list[str] = field(
        default_factory=lambda: ["C-E2:\tNeutral;\t()", "A-E3:\tval 3; act 3; dom  2;\t()"]
    )

    def text(self) -> str:
        head = f"[{self.start:.4f} - {self.end:.4f}]\t{self.utt}\t{self.code}\t{self.vad}"
        return "\n".join([head, *self.raters]) + "\n"


# Blocks grouped by speaker, not in time order (as in the real files). Header lines: 3, 7, 11.
BASE = {
    "Ses01F_impro01": [
        Block("Ses01F_impro01_F000", 6.2901, 8.2357),
        Block("Ses01F_impro01_F001", 10.0100, 11.3925),
        Block("Ses01F_impro01_M000", 7.5712, 10.4750),
    ],
    "Ses03M_impro05a": [Block("Ses03M_impro05a_M000", 1.0, 2.0)],
    "Ses05M_script01_1b": [
        Block("Ses05M_script01_1b_F000", 3.0, 4.0),
        Block("Ses05M_script01_1b_M000", 1.0, 2.5),
    ],
}


def write_eval(root: Path, dialog: str, blocks: list[Block], crlf: bool = False) -> Path:
    path = emo_evaluation_dir(root, int(dialog[4])) / f"{dialog}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    text += "\n".join(b.text() for b in blocks)
    path.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode())
    return path


def write_media(root: Path, dialog: str, utt: str) -> None:
    session = int(dialog[4])
    wav = wav_path(root, session, dialog, utt)
    wav.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00\x00" * 800)
    mocap = mocap_path(root, session, dialog, utt)
    mocap.parent.mkdir(parents=True, exist_ok=True)
    row = "1 0.0083 " + " ".join(["NaN"] * (MOCAP_COLUMNS - 2))
    mocap.write_text(f"{MOCAP_HEADER_LINE1}\n{MOCAP_HEADER_LINE2}\n{row}\n")


def make_corpus(tmp_path: Path, dialogs: dict[str, list[Block]] | None = None) -> Path:
    """Write ``dialogs`` (default BASE) with media under ``tmp_path/IEMOCAP_full_release``."""
    root = tmp_path / ROOT_NAME
    for dialog, blocks in (dialogs or BASE).items():
        write_eval(root, dialog, blocks, crlf=dialog.startswith("Ses03"))
        for b in blocks:
            write_media(root, dialog, b.utt)
    return root


def eval_file(root: Path, dialog: str = "Ses01F_impro01") -> Path:
    return emo_evaluation_dir(root, int(dialog[4])) / f"{dialog}.txt"


# --- the index --------------------------------------------------------------------------------


def test_index_columns_types_and_order(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    index, excluded = build_index(root)
    assert tuple(index.columns) == INDEX_COLUMNS
    assert tuple(excluded.columns) == EXCLUDED_COLUMNS and excluded.empty
    assert index["session"].dtype == "int8" and index["turn"].dtype == "int32"
    assert index["wearer"].dtype == bool and index["start"].dtype == "float64"
    assert list(index["dialog"]) == sorted(index["dialog"])
    row = index.set_index("utt_id").loc["Ses01F_impro01_F001"]
    assert (row["valence"], row["activation"], row["dominance"]) == (2.5, 3.0, 2.0)
    assert row["wav"] == str(wav_path(root.resolve(), 1, "Ses01F_impro01", "Ses01F_impro01_F001"))
    assert Path(row["mocap"]).is_absolute() and Path(row["mocap"]).is_file()


def test_turn_follows_start_time_not_file_order(tmp_path: Path) -> None:
    dialogs = {
        "Ses01F_impro01": [
            *BASE["Ses01F_impro01"],
            Block("Ses01F_impro01_M001", 10.0100, 12.0),  # same start as F001: tie broken by id
        ]
    }
    index, _ = build_index(make_corpus(tmp_path, dialogs))
    assert list(index["utt_id"]) == [
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses01F_impro01_F001",
        "Ses01F_impro01_M001",
    ]
    assert list(index["turn"]) == [0, 1, 2, 3]


def test_speaker_gender_and_wearer(tmp_path: Path) -> None:
    index = build_index(make_corpus(tmp_path))[0].set_index("utt_id")
    m000 = index.loc["Ses01F_impro01_M000"]
    assert (m000["speaker"], m000["gender"], bool(m000["wearer"])) == ("Ses01M", "M", False)
    f000 = index.loc["Ses01F_impro01_F000"]
    assert (f000["speaker"], f000["gender"], bool(f000["wearer"])) == ("Ses01F", "F", True)
    assert bool(index.loc["Ses05M_script01_1b_M000", "wearer"])


def test_irregular_dialog_names_and_crlf(tmp_path: Path) -> None:
    index, _ = build_index(make_corpus(tmp_path))  # Ses03M_impro05a is written with CRLF
    by_dialog = index.groupby("dialog")["utt_id"].apply(list).to_dict()
    assert by_dialog["Ses03M_impro05a"] == ["Ses03M_impro05a_M000"]
    assert by_dialog["Ses05M_script01_1b"] == ["Ses05M_script01_1b_M000", "Ses05M_script01_1b_F000"]
    assert set(index.loc[index["dialog"] == "Ses05M_script01_1b", "session"]) == {5}
    assert index.loc[index["utt_id"] == "Ses03M_impro05a_M000", "code"].item() == "neu"


def test_junk_next_to_evaluations_is_ignored(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    folder = emo_evaluation_dir(root, 1)
    garbage = b"\x00\x05\x16\x07Mac OS X garbage\n"
    (folder / "._Ses01F_impro01.txt").write_bytes(garbage)
    for sub, name in [
        ("Categorical", "Ses01F_impro01_e2_cat.txt"),
        ("Attribute", "Ses01F_impro01_e3_atr.txt"),
        ("Self-evaluation", "Ses01F_impro01_f1.txt"),
    ]:
        (folder / sub).mkdir()
        (folder / sub / name).write_text("Ses01F_impro01_F000 :Neutral state; ()\n")
    (folder / "notes.anvil").write_bytes(garbage)
    index, excluded = build_index(root)  # strict: any of these read would raise
    assert len(index) == 6 and excluded.empty


def test_parent_folder_accepted_and_progress(tmp_path: Path, caplog) -> None:
    make_corpus(tmp_path)
    with caplog.at_level("INFO", logger="affectflow"):
        index, _ = build_index(tmp_path)
    messages = caplog.messages
    assert len(index) == 6
    assert Path(index["wav"].iloc[0]).is_relative_to((tmp_path / ROOT_NAME).resolve())
    assert any(m.startswith("Session1:") for m in messages)


def test_not_a_corpus_raises(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="Session1..5"):
        build_index(tmp_path)


def test_check_files_off_skips_media(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    wav_path(root, 1, "Ses01F_impro01", "Ses01F_impro01_F000").unlink()
    index, excluded = build_index(root, check_files=False)
    assert len(index) == 6 and excluded.empty


def test_select_utterances(tmp_path: Path) -> None:
    index, _ = build_index(make_corpus(tmp_path))
    wearers = select_utterances(index, "wearer_only")
    assert set(wearers["utt_id"]) == {
        "Ses01F_impro01_F000",
        "Ses01F_impro01_F001",
        "Ses03M_impro05a_M000",
        "Ses05M_script01_1b_M000",
    }
    assert list(wearers.index) == list(range(4))
    assert len(select_utterances(index, "all")) == 6
    with pytest.raises(ConfigError, match="wearer_only"):
        select_utterances(index, "speakers")


def test_write_index_round_trip(tmp_path: Path) -> None:
    index, excluded = build_index(make_corpus(tmp_path))
    out = tmp_path / "results" / "index"
    write_index(index, excluded, out / "utterances.parquet", out / "excluded.tsv")
    back = pd.read_parquet(out / "utterances.parquet")
    pd.testing.assert_frame_equal(back, index, check_dtype=False)
    assert back["session"].dtype == "int8" and back["turn"].dtype == "int32"
    assert (out / "excluded.tsv").read_text().strip() == "\t".join(EXCLUDED_COLUMNS)


# --- bad input: strict raises naming file and line; lenient records an exclusion --------------


@dataclass(frozen=True)
class Bad:
    """Break utterance F001 (header line 7) of Ses01F_impro01 and expect this exclusion."""

    edit_block: Callable[[Block], Block] | None
    edit_files: Callable[[Path], None] | None
    utt_id: str
    line: int
    reason: str


F001 = "Ses01F_impro01_F001"


def _media(kind: str) -> Callable[[Path], Path]:
    fn = wav_path if kind == "wav" else mocap_path
    return lambda root: fn(root, 1, "Ses01F_impro01", F001)


def _rewrite(kind: str, data: bytes) -> Callable[[Path], None]:
    return lambda root: _media(kind)(root).write_bytes(data)


def _stereo_wav(root: Path) -> None:
    with wave.open(str(_media("wav")(root)), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(b"\x00" * 400)


BAD_CASES = {
    "header_missing_vad": Bad(
        lambda b: replace(b, vad=""), None, F001, 7, "expected '[start - end]<TAB>utt_id"
    ),
    "header_bad_time": Bad(
        lambda b: replace(b, raters=b.raters, vad="[2.5, 3.0, 2.0] extra"),
        None,
        F001,
        7,
        "expected '[start - end]",
    ),
    "unknown_code": Bad(lambda b: replace(b, code="joy"), None, F001, 7, "unknown category"),
    "attribute_line": Bad(
        lambda b: replace(b, raters=[b.raters[0], "A-E3:\tval three; act 3; dom  2;\t()"]),
        None,
        F001,
        9,
        "expected 'A-<rater>:<TAB>val <n>",
    ),
    "categorical_line": Bad(
        lambda b: replace(b, raters=["C-E2:\t\t()", b.raters[1]]),
        None,
        F001,
        8,
        "expected 'C-<rater>:<TAB>Category",
    ),
    "stray_line": Bad(
        lambda b: replace(b, raters=[*b.raters, "see notes"]),
        None,
        F001,
        10,
        "expected a rater line",
    ),
    "missing_wav": Bad(None, lambda r: _media("wav")(r).unlink(), F001, 7, "missing wav file"),
    "missing_mocap": Bad(
        None, lambda r: _media("mocap")(r).unlink(), F001, 7, "missing mocap file"
    ),
    "unreadable_wav": Bad(
        None, _rewrite("wav", b"ID3\x03not audio"), F001, 7, "unreadable wav file"
    ),
    "wrong_wav_format": Bad(None, _stereo_wav, F001, 7, "expected mono 16-bit 16000 Hz"),
    "unreadable_mocap": Bad(
        None, _rewrite("mocap", b"\x89PNG\r\n"), F001, 7, "first line starting with 'Frame#'"
    ),
    "id_pattern": Bad(
        lambda b: replace(b, utt=F001 + "x"), None, F001 + "x", 7, "does not match Ses0[1-5]"
    ),
    "id_other_dialog": Bad(
        lambda b: replace(b, utt="Ses01F_impro02_F001"),
        None,
        "Ses01F_impro02_F001",
        7,
        "expected dialog 'Ses01F_impro01'",
    ),
    "valence_range": Bad(
        lambda b: replace(b, vad="[5.5000, 3.0000, 2.0000]"), None, F001, 7, "valence 5.5 outside"
    ),
    "activation_range": Bad(
        lambda b: replace(b, vad="[2.0000, 0.5000, 2.0000]"),
        None,
        F001,
        7,
        "activation 0.5 outside",
    ),
    "start_not_before_end": Bad(
        lambda b: replace(b, end=b.start), None, F001, 7, "expected start < end"
    ),
}


def _bad_corpus(tmp_path: Path, case: Bad) -> Path:
    blocks = [
        case.edit_block(b) if case.edit_block and b.utt == F001 else b
        for b in BASE["Ses01F_impro01"]
    ]
    root = make_corpus(tmp_path, {**BASE, "Ses01F_impro01": blocks})
    if case.edit_files:
        case.edit_files(root)
    return root


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_strict_raises_with_file_and_line(tmp_path: Path, name: str) -> None:
    case = BAD_CASES[name]
    root = _bad_corpus(tmp_path, case)
    with pytest.raises(CorpusError) as err:
        build_index(root, strict=True)
    assert f"Ses01F_impro01.txt:{case.line}: " in str(err.value)
    assert case.reason in str(err.value)
    assert err.value.line == case.line


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_lenient_excludes_with_reason(tmp_path: Path, name: str) -> None:
    case = BAD_CASES[name]
    root = _bad_corpus(tmp_path, case)
    index, excluded = build_index(root, strict=False)
    assert len(excluded) == 1
    row = excluded.iloc[0]
    assert (row["utt_id"], row["line"]) == (case.utt_id, case.line)
    assert Path(row["file"]).name == "Ses01F_impro01.txt"
    assert case.reason in row["reason"]
    assert len(index) == 5 and case.utt_id not in set(index["utt_id"])
    # turns stay contiguous after the exclusion
    assert list(index.loc[index["dialog"] == "Ses01F_impro01", "turn"]) == [0, 1]


def test_duplicate_ids_strict_and_lenient(tmp_path: Path) -> None:
    blocks = [*BASE["Ses01F_impro01"], Block("Ses01F_impro01_F000", 20.0, 21.0)]  # line 15
    root = make_corpus(tmp_path, {"Ses01F_impro01": blocks})
    with pytest.raises(CorpusError, match=r"Ses01F_impro01\.txt:3: duplicate .*\.txt:15\)"):
        build_index(root)
    index, excluded = build_index(root, strict=False)
    assert list(excluded["line"]) == [3, 15]
    assert set(excluded["utt_id"]) == {"Ses01F_impro01_F000"}
    assert excluded["reason"].str.contains("duplicate utterance id").all()
    assert list(index["utt_id"]) == ["Ses01F_impro01_M000", "Ses01F_impro01_F001"]


def test_dialog_filed_under_the_wrong_session(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    misplaced = emo_evaluation_dir(root, 2) / "Ses01F_impro01.txt"
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(eval_file(root).read_bytes())
    with pytest.raises(CorpusError, match=r"Session2.*Ses01F_impro01\.txt:3: .*expected session 2"):
        build_index(root)
    index, excluded = build_index(root, strict=False)
    assert len(index) == 6 and len(excluded) == 3
    assert excluded["file"].str.contains("Session2").all()


def test_whole_malformed_file_does_not_abort_lenient_index(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    broken = emo_evaluation_dir(root, 1) / "Ses01F_impro02.txt"
    broken.write_bytes(
        b"this is not\tan evaluation\n\n[1.0 - 2.0]\tSes01F_impro02_F000\tneu\n\xff\xfe\x00\n"
    )
    with pytest.raises(CorpusError, match=r"Ses01F_impro02\.txt:1: expected '\[start"):
        build_index(root)
    index, excluded = build_index(root, strict=False)
    assert len(index) == 6
    assert list(excluded["line"]) == [1, 3]
    assert list(excluded["utt_id"]) == ["", "Ses01F_impro02_F000"]
