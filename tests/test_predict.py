"""Final-model bundles and ``affectflow predict`` (issue 8), on the shared tiny run.

The tiny run trains valence3 bundles svm_vf, blstm_vf and svm_v (tests/conftest.py). Predictions
must equal what the workflow's own functionals give (no train/serve skew), for recordings of the
training corpus and the same code path for new ones.
"""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import __version__, cli, io, labels, pipeline
from affectflow.bundle import BundleError
from affectflow.config import config_hash
from affectflow.corpus.iemocap import build_index, select_utterances
from affectflow.corpus.synth import generate_corpus
from affectflow.errors import CorpusError
from affectflow.features.groups import is_face_channel
from affectflow.features.wav import read_wav
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
    split = io.read_json(tiny_run / "results/final/prep/split.json")
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
    # workflow's functionals (results/final/prep) are what prediction must reproduce.
    bundle = bundles[classifier]
    table = conversation(corpus_index[corpus_index["dialog"] == "Ses02F_impro02"])
    out = bundle.predict(table, progress=False)
    functionals = pd.read_parquet(tiny_run / "results/final/prep/functionals.parquet")
    X = functionals.set_index("utt_id").loc[table["utterance"], bundle.features].to_numpy()
    if bundle.manifest["family"] == "svm":
        expected = pipeline.svm_proba(bundle.model, X, TASK)
    else:
        expected = pipeline.rnn_proba(bundle.model, [X])
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
    bundles: dict[str, Bundle], new_dialog: pd.DataFrame, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(PredictError, match=r"blstm_vf needs --mocap.*audio-only variant blstm_v"):
        bundles["blstm_vf"].predict(new_dialog["wav"].tolist())
    folder = Path(new_dialog["wav"].iloc[0]).parent
    argv = ["predict", "--bundle", str(bundles["svm_vf"].path), "--input", str(folder),
            "--out", "/nonexistent/pred.csv"]
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
    tmp_path: Path, bundles: dict[str, Bundle], new_dialog: pd.DataFrame
) -> None:
    from scipy.signal import resample_poly

    x, _ = read_wav(new_dialog["wav"].iloc[0])
    y = resample_poly(x, 441, 160)
    path = tmp_path / "stereo.wav"
    _write_wav(path, np.stack([y, 0.5 * y], axis=1), 44100)
    notices: list[str] = []
    out = bundles["svm_v"].predict([path], log=notices.append, progress=False)
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
