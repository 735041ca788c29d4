"""Final-model bundles and ``affectflow predict`` (issue 8), on the shared tiny run.

The tiny run trains valence3 bundles svm_vf, blstm_vf and svm_v (tests/conftest.py). Predictions
must equal what the workflow's own functionals give (no train/serve skew), for recordings of the
training corpus and the same code path for new ones.
"""

from __future__ import annotations

import json
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import __version__, cli, io, labels, registry
from affectflow.bundle import FORMAT_VERSION, BundleError
from affectflow.config import config_hash
from affectflow.corpus.iemocap import build_index, select_utterances
from affectflow.corpus.synth import generate_corpus
from affectflow.errors import CorpusError
from affectflow.features.groups import is_face_channel
from affectflow.features.wav import read_wav
from affectflow.models.scoring import class_scores
from affectflow.predict import Bundle, PredictError, load_bundle
from tests.conftest import E2E_TASKS

pytestmark = pytest.mark.e2e

TASK = "valence3"
CLASSIFIERS = ("svm_vf", "blstm_vf", "svm_v")


def conversation(rows: pd.DataFrame) -> pd.DataFrame:
    """Index rows as a predict input table, in turn order."""
    rows = rows.sort_values(["dialog", "turn"])
    return pd.DataFrame({"conversation": rows["dialog"], "utterance": rows["utt_id"],
                         "wav": rows["wav"], "mocap": rows["mocap"]}).reset_index(drop=True)


def probabilities(df: pd.DataFrame) -> np.ndarray:
    return df[[c for c in df.columns if c.startswith("p_")]].to_numpy()


@pytest.fixture(scope="module")
def bundles(tiny_run: Path) -> dict[str, Bundle]:
    return {c: load_bundle(tiny_run / "results/final" / TASK / c) for c in CLASSIFIERS}


@pytest.fixture(scope="module")
def corpus_index(tiny_run: Path) -> pd.DataFrame:
    return select_utterances(
        pd.read_parquet(tiny_run / "results/index/utterances.parquet"), "wearer_only"
    )


@pytest.fixture(scope="module")
def new_dialog(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The marker wearer's utterances of one dialog of a corpus generated with another seed."""
    root = generate_corpus(tmp_path_factory.mktemp("new99"), "tiny", seed=99)
    index = select_utterances(build_index(root)[0], "wearer_only")
    return conversation(index[index["dialog"] == index["dialog"].iloc[0]])


# --------------------------------------------------------------------------- the bundles


def test_bundles_are_complete_and_described(tiny_run: Path, bundles: dict[str, Bundle]) -> None:
    split = io.read_json(tiny_run / "results/folds/all/split.json")
    speakers = sorted(split["train"])
    assert split["test"] == "" and split["validation"] == speakers[-1] and len(speakers) == 10
    for name, bundle in bundles.items():
        m = bundle.manifest
        assert m["affectflow_version"] == __version__ and m["classifier"] == name
        assert m["needs_face"] is name.endswith("_vf")
        assert m["config_hash"] == config_hash(m["config"])
        assert m["corpus"]["preset"] == "tiny" and "not IEMOCAP" in m["corpus_note"]
        assert [c["name"] for c in m["classes"]] == labels.class_names(TASK)
        assert m["features"] == io.read_json(bundle.path / "features.json")["features"]
        assert m["speakers"]["train"] == speakers
        cv = m["cv_metrics"]
        if name in E2E_TASKS[TASK]:
            assert cv["n_folds"] == 10 and 0 <= cv["uar"] <= 1
        else:
            assert cv is None  # audio-only variants are not cross-validated
    assert not any(is_face_channel(f) for f in bundles["svm_v"].features)


# ------------------------------------------------------------------ no train/serve skew


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_prediction_equals_the_workflow_path(
    tiny_run: Path, bundles: dict[str, Bundle], corpus_index: pd.DataFrame, classifier: str
) -> None:
    # A training speaker's dialog: its mean face is the one the normaliser stored, so the
    # workflow's functionals (results/folds/all) are what prediction must reproduce.
    bundle = bundles[classifier]
    table = conversation(corpus_index[corpus_index["dialog"] == "Ses02F_impro02"])
    out = bundle.predict(table, progress=False)
    functionals = pd.read_parquet(tiny_run / "results/folds/all/functionals.parquet")
    X = functionals.set_index("utt_id").loc[table["utterance"], bundle.features].to_numpy()
    # the fold jobs' scoring: one matrix, or the dialog as one sequence
    inputs = X if registry.family(bundle.manifest["family"]).reads == "rows" else [X]
    expected = class_scores(bundle.model, inputs, labels.n_classes(TASK))
    np.testing.assert_allclose(probabilities(out), expected, rtol=1e-6, atol=1e-9)
    assert out["class_id"].tolist() == expected.argmax(axis=1).tolist()
    assert out["utterance"].tolist() == table["utterance"].tolist()


def test_new_conversation_from_the_command_line(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame
) -> None:
    folder = tmp_path / "conversation"
    folder.mkdir()
    for wav in new_dialog["wav"]:
        shutil.copy(wav, folder)
    mocap = Path(new_dialog["mocap"].iloc[0]).parent
    out = tmp_path / "pred.csv"
    argv = ["predict", "--bundle", str(bundles["blstm_vf"].path), "--input", str(folder),
            "--mocap", str(mocap), "--out", str(out)]
    assert cli.main(argv) == 0
    df = pd.read_csv(out)
    assert df["utterance"].tolist() == sorted(Path(w).stem for w in new_dialog["wav"])
    assert (df["conversation"] == "conversation").all()
    np.testing.assert_allclose(probabilities(df).sum(axis=1), 1.0, atol=1e-6)
    assert list(df.columns) == ["conversation", "utterance", "class_id", "class_name",
                                "p_negative", "p_neutral", "p_positive", "meaning"]
    names = labels.class_names(TASK)
    assert [names[i] for i in df["class_id"]] == df["class_name"].tolist()


def test_conversations_are_predicted_independently(
    tmp_path: Path, bundles: dict[str, Bundle], corpus_index: pd.DataFrame,
    new_dialog: pd.DataFrame,
) -> None:
    # A CSV with two conversations: each is its own BLSTM sequence and its own face speaker.
    old = conversation(corpus_index[corpus_index["dialog"] == "Ses03F_impro07"])
    both = pd.concat([new_dialog, old], ignore_index=True)
    csv = tmp_path / "input.csv"
    both.to_csv(csv, index=False)
    out = tmp_path / "pred.parquet"
    argv = ["predict", "--bundle", str(bundles["blstm_vf"].path), "--input", str(csv),
            "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    together = pd.read_parquet(out)
    assert together["utterance"].tolist() == both["utterance"].tolist()
    alone = bundles["blstm_vf"].predict(old, progress=False)
    np.testing.assert_allclose(probabilities(together)[len(new_dialog):], probabilities(alone),
                               rtol=1e-6, atol=1e-9)


# -------------------------------------------------------------------------- bad inputs


def test_face_bundle_refuses_input_without_mocap(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame,
    capsys: pytest.CaptureFixture,
) -> None:
    with pytest.raises(PredictError, match=r"blstm_vf needs --mocap.*audio-only variant blstm_v"):
        bundles["blstm_vf"].predict(new_dialog["wav"].tolist())
    folder = Path(new_dialog["wav"].iloc[0]).parent
    argv = ["predict", "--bundle", str(bundles["svm_vf"].path), "--input", str(folder),
            "--out", str(tmp_path / "pred.csv")]
    assert cli.main(argv) == 1
    assert "svm_v (config final.classifiers)" in capsys.readouterr().err
    # the audio-only bundle needs no face
    out = bundles["svm_v"].predict(new_dialog["wav"].tolist()[:2], progress=False)
    assert len(out) == 2


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(pcm.shape[1])
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())


def test_stereo_44k_wav_is_converted_with_a_notice(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame, caplog
) -> None:
    from scipy.signal import resample_poly

    x, _ = read_wav(new_dialog["wav"].iloc[0])
    y = resample_poly(x, 441, 160)
    path = tmp_path / "stereo.wav"
    _write_wav(path, np.stack([y, 0.5 * y], axis=1), 44100)
    with caplog.at_level("INFO", logger="affectflow"):
        out = bundles["svm_v"].predict([path], progress=False)
    notices = caplog.messages
    assert len(out) == 1 and out["utterance"].iloc[0] == "stereo"
    assert probabilities(out).sum() == pytest.approx(1.0)
    assert len(notices) == 1 and str(path) in notices[0]
    assert "averaged to mono" in notices[0] and "44100 Hz -> 16000 Hz" in notices[0]


def test_unreadable_wav_is_an_error_naming_the_file(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"this is not a wav file")
    wavs = [new_dialog["wav"].iloc[0], bad]
    with pytest.raises(CorpusError, match="broken.wav: not a RIFF/WAVE file"):
        bundles["svm_v"].predict(wavs, progress=False)
    mocaps = [new_dialog["mocap"].iloc[0], tmp_path / "missing.txt"]
    with pytest.raises(PredictError, match="missing.txt"):
        bundles["svm_vf"].predict(wavs, mocap=mocaps, progress=False)


def _copy_bundle(bundle: Bundle, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle.path, tmp_path / bundle.classifier))


def test_bundle_of_another_version_is_refused(tmp_path: Path, bundles: dict[str, Bundle]) -> None:
    path = _copy_bundle(bundles["svm_vf"], tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    major, minor, _ = __version__.split(".")
    manifest["affectflow_version"] = f"{major}.{int(minor) + 1}.0"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"made by affectflow .* major\.minor"):
        load_bundle(path)
    manifest["affectflow_version"] = f"{major}.{minor}.99"  # another patch release is fine
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert load_bundle(path).task == TASK


def test_incomplete_bundle_is_refused(tmp_path: Path, bundles: dict[str, Bundle]) -> None:
    path = _copy_bundle(bundles["blstm_vf"], tmp_path)
    (path / "model.pt").unlink()
    with pytest.raises(BundleError, match="incomplete bundle, missing model.pt"):
        load_bundle(path)
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(path)


# ------------------------------------------------------- error paths of `affectflow predict`


def predict_fails(bundle: Path, input_: Path, out: Path, capsys: pytest.CaptureFixture) -> str:
    """Run `affectflow predict`; it must exit 1 with one error line, write nothing to ``out``
    and print no traceback. Returns that line."""
    argv = ["predict", "--bundle", str(bundle), "--input", str(input_), "--out", str(out),
            "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("affectflow: error: ") and "Traceback" not in err, err
    assert not out.exists()
    return err


def test_empty_input_folder(
    tmp_path: Path, bundles: dict[str, Bundle], capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no audio here")
    err = predict_fails(bundles["svm_v"].path, folder, tmp_path / "p.csv", capsys)
    assert f"{folder}: no .wav files in this folder" in err
    err = predict_fails(bundles["svm_v"].path, tmp_path / "absent", tmp_path / "p.csv", capsys)
    assert f"{tmp_path / 'absent'}: --input does not exist" in err


#: Bad input CSVs: (name, content with {wav0}/{wav1} for two real wav paths, expected message).
BAD_CSVS = [
    ("empty", "", r"not a readable CSV file"),
    ("no_utterance_column", "conversation,wav\nc,{wav0}\n",
     r"missing column\(s\) utterance \(expected conversation, utterance, wav\[, mocap\]\)"),
    ("no_columns_at_all", "a;b\n1;2\n", r"missing column\(s\) conversation, utterance, wav"),
    ("header_only", "conversation,utterance,wav\n", r"no utterances \(a header line only\)"),
    ("duplicate_utterance",
     "conversation,utterance,wav\nc,u1,{wav0}\nc,u2,{wav1}\nc,u1,{wav1}\nd,u1,{wav0}\n",
     r"lines 2, 4 name the same utterance 'u1' of conversation 'c'; utterance names must be "
     r"unique within a conversation"),
    ("empty_cell", "conversation,utterance,wav\nc,u1,{wav0}\nc,,{wav1}\n",
     r"line 3: empty utterance"),
    ("missing_wav", "conversation,utterance,wav\nc,u1,{wav0}\nc,u2,nowhere/u2.wav\n",
     r"line 3: wav file .*nowhere/u2\.wav not found"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_CSVS, ids=[c[0] for c in BAD_CSVS])
def test_bad_input_csv(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame,
    capsys: pytest.CaptureFixture, name: str, content: str, message: str,
) -> None:
    csv = tmp_path / f"{name}.csv"
    csv.write_text(content.format(wav0=new_dialog["wav"].iloc[0], wav1=new_dialog["wav"].iloc[1]))
    err = predict_fails(bundles["svm_v"].path, csv, tmp_path / "p.csv", capsys)
    assert re.search(re.escape(str(csv)) + ": " + message, err), err


def test_duplicate_utterances_in_a_table(
    bundles: dict[str, Bundle], new_dialog: pd.DataFrame
) -> None:
    """The library's table input is checked the same way (rows instead of lines)."""
    table = new_dialog.iloc[[0, 1, 0]].reset_index(drop=True)
    with pytest.raises(PredictError, match=r"rows 0, 2 name the same utterance"):
        bundles["svm_v"].predict(table, progress=False)
    two = pd.concat([new_dialog.iloc[[0]].assign(conversation="a"),
                     new_dialog.iloc[[0]].assign(conversation="b")], ignore_index=True)
    assert len(bundles["svm_v"].predict(two, progress=False)) == 2  # other conversations: fine


def test_wrong_output_extension(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame,
    capsys: pytest.CaptureFixture,
) -> None:
    folder = Path(new_dialog["wav"].iloc[0]).parent
    for out, message in ((tmp_path / "p.txt", "--out must end in .csv or .parquet"),
                         (tmp_path / "p", "--out must end in .csv or .parquet"),
                         (tmp_path / "no" / "p.csv", f"--out folder {tmp_path / 'no'} does not")):
        err = predict_fails(bundles["svm_v"].path, folder, out, capsys)
        assert f"{out}: {message}" in err, err


def _edit_manifest(path: Path, edit) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


#: Damaged bundles: (name, how, expected message after the damaged file's path).
BAD_BUNDLES = [
    ("not_json", lambda p: (p / "manifest.json").write_text('{"format": "affectflow-bund'),
     "manifest.json", r"not valid JSON"),
    ("not_a_manifest", lambda p: _edit_manifest(p, lambda m: m.update(format="other")),
     "manifest.json", r"not an affectflow bundle manifest"),
    ("no_files_entry", lambda p: _edit_manifest(p, lambda m: m.pop("files")),
     "manifest.json", r"malformed manifest"),
    ("no_task_entry", lambda p: _edit_manifest(p, lambda m: m.pop("task")),
     "manifest.json", r"malformed manifest, entry 'task' is missing or not a str"),
    ("files_not_a_dict", lambda p: _edit_manifest(p, lambda m: m.update(files=["model.json"])),
     "manifest.json", r"malformed manifest"),
    ("no_lld_config", lambda p: _edit_manifest(p, lambda m: m["config"].pop("lld")),
     "manifest.json", r"malformed manifest, no 'config.lld' section"),
    ("other_format_version", lambda p: _edit_manifest(p, lambda m: m.update(format_version=99)),
     "manifest.json", rf"bundle format 99, expected {FORMAT_VERSION}"),
    ("other_minor_version",
     lambda p: _edit_manifest(p, lambda m: m.update(affectflow_version="0.999.0")), "",
     r"bundle made by affectflow 0\.999\.0, this is affectflow .*major\.minor versions must "
     r"match"),
    ("corrupt_model", lambda p: (p / "model.json").write_text("[1, 2"), "model.json",
     r"cannot be read \(.*\); the bundle is damaged, retrain it"),
    ("corrupt_normalizer", lambda p: (p / "normalizer.npz").write_bytes(b"PK\x03\x04junk"),
     "normalizer.npz", r"cannot be read"),
]


@pytest.mark.parametrize(("name", "damage", "file", "message"), BAD_BUNDLES,
                         ids=[b[0] for b in BAD_BUNDLES])
def test_damaged_or_foreign_bundle(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame,
    capsys: pytest.CaptureFixture, name: str, damage, file: str, message: str,
) -> None:
    path = _copy_bundle(bundles["svm_v"], tmp_path)
    damage(path)
    where = re.escape(str(path / file if file else path))
    with pytest.raises(BundleError, match=where + ": " + message):
        load_bundle(path)
    folder = Path(new_dialog["wav"].iloc[0]).parent
    err = predict_fails(path, folder, tmp_path / "p.csv", capsys)
    assert re.search(where + ": " + message, err), err


def test_silent_or_too_short_wav(
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame,
    capsys: pytest.CaptureFixture,
) -> None:
    x, _ = read_wav(new_dialog["wav"].iloc[0])
    cases = {
        "silent.wav": (np.zeros(16000), r"silent: every sample is zero"),
        "short.wav": (x[:400], r"too short: 400 samples, one 50 ms frame needs 800"),
        "empty.wav": (x[:0], r"empty: no samples"),
    }
    for name, (samples, message) in cases.items():
        folder = tmp_path / name.removesuffix(".wav")
        folder.mkdir()
        shutil.copy(new_dialog["wav"].iloc[0], folder / "a_fine.wav")  # first in order
        _write_wav(folder / name, samples[:, None], 16000)
        with pytest.raises(CorpusError, match=re.escape(str(folder / name)) + ": " + message):
            bundles["svm_v"].predict(sorted(folder.glob("*.wav")), progress=False)
        err = predict_fails(bundles["svm_v"].path, folder, tmp_path / "p.csv", capsys)
        assert re.search(re.escape(str(folder / name)) + ": " + message, err), err
