"""The synthetic corpus generator: IEMOCAP layout, ground truth, determinism, generative model."""

from __future__ import annotations

import hashlib
import re
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow.corpus import layout
from affectflow.corpus.synth import GROUND_TRUTH, PRESETS, generate_corpus, plan_corpus
from affectflow.corpus.synth_audio import make_voice, synthesize
from affectflow.corpus.synth_face import face_frames, format_mocap, make_face, mean_geometry

EMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
BLOCK_RE = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(\S+)\t([a-z]{3})\t"
    r"\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$"
)
ATTR_RE = re.compile(r"^A-([EFM]\d):\tval (\d); act (\d); dom  (\d?);\t\(.*\)$")
CAT_RE = re.compile(r"^C-([EFM]\d):\t((?:[A-Z][a-z]+; )*[A-Z][a-z]+;)\t\(.*\)$")
TRANSCRIPT_RE = re.compile(r"^(\S+) \[(\d{3}\.\d{4})-(\d{3}\.\d{4})\]: \S.*$")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny corpus, seed 0, generated once for the module."""
    path = tmp_path_factory.mktemp("synth") / "tiny-0"
    root = generate_corpus(path, preset="tiny", seed=0)
    assert root == path / layout.ROOT_NAME
    return path


@pytest.fixture(scope="module")
def truth(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / GROUND_TRUTH)


def _file_hashes(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _blocks(path: Path) -> list[list[str]]:
    text = path.read_text()
    assert "\r" not in text
    lines = text.split("\n")
    assert lines[0] == EMO_HEADER and lines[1] == ""
    return [b.split("\n") for b in "\n".join(lines[2:]).strip("\n").split("\n\n")]


# --- presets ---------------------------------------------------------------------------------


def test_presets_name_ten_speakers_and_valid_dialogs() -> None:
    assert set(PRESETS) == {"tiny", "demo", "iemocap"}
    for preset in PRESETS.values():
        names = [n for session in preset.dialogs for n in session]
        assert len(names) == len(set(names))
        assert all(layout.DIALOG_RE.match(n) for n in names), names
        for session, dialogs in zip(layout.SESSIONS, preset.dialogs, strict=True):
            assert {n[:5] for n in dialogs} == {f"Ses0{session}"}
            assert {n[5] for n in dialogs} == {"F", "M"}  # both actors wear the markers


def test_iemocap_preset_has_iemocap_inventory() -> None:
    preset = PRESETS["iemocap"]
    assert [len(d) for d in preset.dialogs] == [28, 30, 32, 30, 31]
    names = {n for d in preset.dialogs for n in d}
    assert {"Ses03M_impro05a", "Ses03M_impro05b", "Ses05M_script01_1b"} <= names
    plan = plan_corpus(preset, seed=3)
    assert sum(s.n_turns for s in plan) == 10_039
    assert plan == plan_corpus(preset, seed=3)
    assert plan != plan_corpus(preset, seed=4)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        generate_corpus(tmp_path, preset="huge")
    with pytest.raises(ValueError, match="seed"):
        generate_corpus(tmp_path, preset="tiny", seed=-1)
    (tmp_path / layout.ROOT_NAME / "Session1").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not written by the synthetic generator"):
        generate_corpus(tmp_path, preset="tiny")
    assert (tmp_path / layout.ROOT_NAME / "Session1").is_dir()


# --- layout ----------------------------------------------------------------------------------


def test_files_follow_iemocap_layout(out: Path, truth: pd.DataFrame) -> None:
    root = out / layout.ROOT_NAME
    assert sorted(p.name for p in root.iterdir()) == [f"Session{s}" for s in layout.SESSIONS]
    for row in truth.itertuples():
        parts = layout.parse_utt_id(row.utt_id)
        assert parts is not None and parts.dialog == row.dialog
        assert layout.DIALOG_RE.match(row.dialog)
        assert parts.speaker == row.speaker and parts.is_wearer == row.wearer
        assert layout.wav_path(root, row.session, row.dialog, row.utt_id).is_file()
        assert layout.mocap_path(root, row.session, row.dialog, row.utt_id).is_file()
    for dialog, group in truth.groupby("dialog"):
        session = int(dialog[4])
        lines = layout.transcription_path(root, session, dialog).read_text().splitlines()
        matches = [TRANSCRIPT_RE.match(line) for line in lines]
        assert all(matches), lines
        assert [m[1] for m in matches] == list(group.sort_values("start").utt_id)
        assert [float(m[2]) for m in matches] == sorted(group.start)


def test_wavs_are_16k_mono_16bit_of_the_block_duration(out: Path, truth: pd.DataFrame) -> None:
    root = out / layout.ROOT_NAME
    for row in truth.itertuples():
        with wave.open(str(layout.wav_path(root, row.session, row.dialog, row.utt_id))) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
            assert w.getcomptype() == "NONE"
            assert w.getnframes() == round((row.end - row.start) * 16_000)
            samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        assert np.abs(samples).max() > 1000  # speech, not silence


def test_mocap_files_have_header_and_120fps_rows(out: Path, truth: pd.DataFrame) -> None:
    root = out / layout.ROOT_NAME
    n_nan = no_origin = 0
    for row in truth.itertuples():
        path = layout.mocap_path(root, row.session, row.dialog, row.utt_id)
        lines = path.read_text().split("\n")
        assert lines[0] == layout.MOCAP_HEADER_LINE1
        assert lines[1] == layout.MOCAP_HEADER_LINE2
        assert lines[-1] == ""
        rows = [line.split(" ") for line in lines[2:-1]]
        assert {len(r) for r in rows} == {layout.MOCAP_COLUMNS}
        assert abs(len(rows) - (row.end - row.start) * 120) <= 1
        frames = [int(r[0]) for r in rows]
        assert frames == list(range(frames[0], frames[0] + len(rows)))
        values = np.array([[float(x) for x in r[2:]] for r in rows])
        n_nan += int(np.isnan(values).sum())
        tnose = values[:, 3 * layout.MARKER_NAMES.index("TNOSE") :][:, :3]
        if np.isnan(tnose).all():  # an occlusion covered the nose for the whole utterance
            no_origin += 1
            continue
        assert np.all(np.abs(np.nanmean(tnose, axis=0)) < 5)
    assert n_nan > 0  # marker gaps occur
    assert no_origin <= 0.05 * len(truth)


# --- ground truth and EmoEvaluation ----------------------------------------------------------


def test_ground_truth_equals_what_the_files_say(out: Path, truth: pd.DataFrame) -> None:
    root = out / layout.ROOT_NAME
    by_id = truth.set_index("utt_id")
    seen, self_rated, self_changes_mean, not_time_ordered = set(), 0, 0, 0
    for session in layout.SESSIONS:
        for path in sorted(layout.emo_evaluation_dir(root, session).glob("Ses*.txt")):
            starts, genders = [], []
            for block in _blocks(path):
                head = BLOCK_RE.match(block[0])
                assert head, block[0]
                utt = head[3]
                row = by_id.loc[utt]
                seen.add(utt)
                assert (float(head[1]), float(head[2])) == (row.start, row.end)
                summary = tuple(float(x) for x in head.group(5, 6, 7))
                assert summary == (row.valence, row.activation, row.dominance)
                assert head[4] == row.code
                attrs = [ATTR_RE.match(line) for line in block[1:] if line.startswith("A-")]
                cats = [CAT_RE.match(line) for line in block[1:] if line.startswith("C-")]
                assert all(attrs) and all(cats) and len(attrs) + len(cats) == len(block) - 1
                external = [m for m in attrs if m[1].startswith("E")]
                own = [m for m in attrs if not m[1].startswith("E")]
                assert 2 <= len(external) == row.n_raters <= 4
                assert all(m[1] == f"{row.gender}{session}" for m in own)
                expected = _means(external)
                assert summary == expected
                if own:
                    self_rated += 1
                    self_changes_mean += _means(external + own) != expected
                ext_cats = [m[2] for m in cats if m[1].startswith("E")]
                assert _majority_code(ext_cats) == row.code
                starts.append(row.start)
                genders.append(row.gender)
            assert genders == sorted(genders)  # grouped by speaker
            not_time_ordered += starts != sorted(starts)
    assert seen == set(truth.utt_id)
    assert self_rated > 0 and self_changes_mean > 0
    assert not_time_ordered > 0


def _means(matches: list[re.Match]) -> tuple[float, float, float]:
    val = np.mean([int(m[2]) for m in matches])
    act = np.mean([int(m[3]) for m in matches])
    dom = np.mean([int(m[4]) for m in matches if m[4]])
    return tuple(float(f"{x:.4f}") for x in (val, act, dom))


_CODES = {"Neutral": "neu", "Frustration": "fru", "Anger": "ang", "Sadness": "sad",
          "Happiness": "hap", "Excited": "exc", "Surprise": "sur", "Fear": "fea",
          "Disgust": "dis", "Other": "oth"}


def _majority_code(rater_cats: list[str]) -> str:
    votes = Counter(c.strip() for cats in rater_cats for c in cats.split(";") if c.strip())
    (top, n), *rest = votes.most_common()
    if 2 * n <= len(rater_cats) or (rest and rest[0][1] == n):
        return "xxx"
    return _CODES[top]


def test_junk_files_are_present(out: Path, truth: pd.DataFrame) -> None:
    root = out / layout.ROOT_NAME
    apple = []
    for session in layout.SESSIONS:
        emo = layout.emo_evaluation_dir(root, session)
        for sub in ("Categorical", "Attribute", "Self-evaluation"):
            assert any((emo / sub).glob("*.txt")), (emo, sub)
        apple += list(emo.glob("._*.txt"))
        tops = {p.stem for p in emo.glob("Ses*.txt")}
        assert tops == set(truth.loc[truth.session == session, "dialog"])
    assert apple and all(p.read_bytes()[:4] == b"\x00\x05\x16\x07" for p in apple)


def test_tiny_corpus_supports_the_later_tests(truth: pd.DataFrame) -> None:
    assert truth.speaker.nunique() == 10
    assert truth[truth.wearer].groupby("speaker").size().min() >= 6
    for dim in ("valence", "activation"):
        levels = pd.cut(truth[dim], [0, 2.0, 2.49, 3.5, 3.99, 5], labels=list("lxmyh"))
        assert {"l", "m", "h"} <= set(levels)
    assert truth.duplicated(["dialog", "start"]).sum() == 0
    assert 0.4 < truth.wearer.mean() < 0.6


def test_labels_follow_a_slowly_changing_latent_state(truth: pd.DataFrame) -> None:
    assert np.corrcoef(truth.latent_valence, truth.valence)[0, 1] > 0.6
    assert np.corrcoef(truth.latent_activation, truth.activation)[0, 1] > 0.5
    lag1 = []
    for _, g in truth.groupby(["dialog", "speaker"]):
        x = g.sort_values("start").latent_valence.to_numpy()
        lag1 += list(zip(x[:-1], x[1:], strict=True))
    pairs = np.array(lag1)
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.5


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_is_byte_identical_and_another_seed_differs(
    out: Path, tmp_path: Path, caplog
) -> None:
    again = generate_corpus(tmp_path / "again", preset="tiny", seed=0, jobs=2)
    assert _file_hashes(again.parent) == _file_hashes(out)
    with caplog.at_level("INFO", logger="affectflow"):
        other = generate_corpus(tmp_path / "other", preset="tiny", seed=1)
    lines = caplog.messages
    assert len(lines) == PRESETS["tiny"].n_dialogs  # one progress line per dialog
    assert all("utterances" in line for line in lines)
    a, b = _file_hashes(out), _file_hashes(other.parent)
    shared = set(a) & set(b)
    assert sum(a[k] != b[k] for k in shared) > 0.9 * len(shared)
    truth_a = pd.read_parquet(out / GROUND_TRUTH)
    truth_b = pd.read_parquet(other.parent / GROUND_TRUTH)
    assert not truth_a[["valence", "start"]].equals(truth_b[["valence", "start"]])


# --- generative model ------------------------------------------------------------------------


def test_voice_follows_activation_strongly() -> None:
    voice = make_voice(np.random.default_rng(0), "M")
    rms = {}
    for act in (1.5, 4.5):
        x = synthesize(np.random.default_rng(1), voice, 3.0, act, 32_000).samples / 32768.0
        rms[act] = np.sqrt(np.mean(x**2))
    assert rms[4.5] > 2.5 * rms[1.5]


def test_face_smiles_with_valence_and_speakers_differ_more() -> None:
    rng = np.random.default_rng(0)
    face_a, face_b = make_face(rng), make_face(rng)
    mouth = np.zeros(240)
    corners = [layout.MARKER_NAMES.index(m) for m in ("Mou1", "Mou5")]
    tnose = layout.MARKER_NAMES.index("TNOSE")

    def corner_height(valence: float) -> float:
        xyz = face_frames(rng, face_a, valence, 3.0, mouth).reshape(-1, 55, 3)
        return float(np.mean(xyz[:, corners, 1] - xyz[:, [tnose], 1]))

    lift = corner_height(5.0) - corner_height(1.0)
    assert lift > 3.0
    speaker_gap = np.linalg.norm(face_a.base - face_b.base, axis=1).mean()
    emotion_shift = np.linalg.norm(face_a.fields[:2].reshape(2, 55, 3), axis=2).max()
    assert speaker_gap > emotion_shift
    assert np.linalg.norm(mean_geometry()[tnose]) == 0.0


def test_mocap_text_matches_python_formatting() -> None:
    rng = np.random.default_rng(5)
    coords = rng.normal(0.0, 80.0, (30, 165))
    coords[rng.random(coords.shape) < 0.05] = np.nan
    text = format_mocap(101, coords).decode()
    lines = text.split("\n")
    assert lines[:2] == [layout.MOCAP_HEADER_LINE1, layout.MOCAP_HEADER_LINE2]
    for i, line in enumerate(lines[2:-1]):
        tokens = ["NaN" if np.isnan(x) else f"{x:.3f}" for x in coords[i]]
        assert line == " ".join([str(101 + i), f"{(100 + i) / 120:.4f}", *tokens])
