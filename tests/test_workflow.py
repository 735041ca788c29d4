"""End-to-end checks of one complete DAG run on the tiny synthetic corpus (shared fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import io, labels
from affectflow.features.groups import AUDIO_LLDS, FACE_COORDS
from affectflow.folds import read_split, speakers
from affectflow.stages import folds as fold_stages
from tests.conftest import run_config

pytestmark = pytest.mark.e2e

SESSIONS = [f"Ses0{n}" for n in range(1, 6)]


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Path:
    return tiny_run


@pytest.fixture(scope="module")
def config(run: Path) -> dict:
    return run_config(run)


@pytest.fixture(scope="module")
def folds(run: Path) -> list[str]:
    return speakers(pd.read_parquet(run / "results/index/utterances.parquet"))


def test_index_reproduces_generator_ground_truth(run: Path, config: dict) -> None:
    syn = config["corpus"]["synthetic"]
    truth = pd.read_parquet(run / f"resources/synthetic/{syn['preset']}-{syn['seed']}"
                            "/ground_truth.parquet")
    index = pd.read_parquet(run / "results/index/utterances.parquet")
    merged = truth.merge(index, on="utt_id", suffixes=("_truth", ""), validate="1:1")
    assert len(merged) == len(truth) == len(index)
    for col in ("start", "end", "valence", "activation", "dominance", "code", "wearer",
                "speaker", "dialog"):
        assert (merged[f"{col}_truth"].astype(str) == merged[col].astype(str)).all(), col
    assert len(pd.read_csv(run / "results/index/excluded.tsv", sep="\t")) == 0


def test_lld_files_for_every_session_without_nan_except_pitch(run: Path) -> None:
    index = pd.read_parquet(run / "results/index/utterances.parquet")
    for session in SESSIONS:
        audio = pd.read_parquet(run / f"results/lld/{session}/audio.parquet")
        face = pd.read_parquet(run / f"results/lld/{session}/face.parquet")
        assert list(audio.columns[:3]) == ["utt_id", "frame", "time"]
        assert list(audio.columns[3:]) == list(AUDIO_LLDS)
        assert list(face.columns[3:]) == list(FACE_COORDS)
        assert audio[list(AUDIO_LLDS)].dtypes.eq(np.float32).all()
        no_pitch = [c for c in AUDIO_LLDS if c != "pitch"]
        assert not audio[no_pitch].isna().any().any()
        assert audio["pitch"].isna().any() and audio["pitch"].notna().any()
        # Only the marker wearer's utterances (wearer_only), all of them, on one frame grid.
        wearer = index[(index["session"] == int(session[-1])) & index["wearer"]]
        assert set(audio["utt_id"]) == set(wearer["utt_id"]) == set(face["utt_id"])
        assert audio[["utt_id", "frame"]].equals(face[["utt_id", "frame"]])
        assert np.allclose(audio["time"], face["time"])


def test_fold_artifacts_for_every_fold_and_task(run: Path, config: dict, folds: list) -> None:
    assert len(folds) == 10
    for fold in folds:
        base = run / "results/folds" / fold
        for name in ("split.json", "normalizer.npz", "pfa.json", "labels.parquet",
                     "clusters.json", "functionals.parquet"):
            assert (base / name).stat().st_size > 0, f"{fold}/{name}"
        split = read_split(base / "split.json")
        assert split.test == fold and fold not in split.train and len(split.train) == 9
        assert len(io.read_json(base / "pfa.json")["features"]) == 30
        for task in config["tasks"]:
            cfs = io.read_json(base / "cfs" / f"{task}.json")
            assert cfs["features"] and cfs["merit"] > 0


def test_predictions_for_every_task_classifier_fold(run: Path, config: dict, folds) -> None:
    for task, classifiers in config["tasks"].items():
        n_classes = labels.n_classes(task)
        for clf in classifiers:
            for fold in folds:
                path = run / f"results/models/{task}/{clf}/{fold}/predictions.parquet"
                pred = pd.read_parquet(path)
                fold_labels = pd.read_parquet(run / f"results/folds/{fold}/labels.parquet")
                test_ids = set(fold_labels.loc[fold_labels["split"] == "test", "utt_id"])
                assert set(pred["utt_id"]) == test_ids, path
                proba = pred[[f"p_{c}" for c in range(n_classes)]].to_numpy()
                assert np.allclose(proba.sum(axis=1), 1.0), path
                assert pred["y_pred"].between(0, n_classes - 1).all()
                # The job's recorded training/validation ids never include the test speaker.
                meta = io.read_parquet_metadata(path)
                used = set(meta["train_ids"]) | set(meta["validation_ids"])
                assert used and not used & test_ids, path
                assert all(not u.startswith(fold[:5]) or _speaker(u) != fold for u in used)


def _speaker(utt_id: str) -> str:
    return utt_id[:5] + utt_id.rsplit("_", 1)[1][0]


def test_rnn_validation_speaker_is_not_trained_on(run: Path, folds: list) -> None:
    for fold in folds:
        split = read_split(run / f"results/folds/{fold}/split.json")
        meta = io.read_parquet_metadata(
            run / f"results/models/valence3/blstm_vf/{fold}/predictions.parquet"
        )
        assert {_speaker(u) for u in meta["validation_ids"]} == {split.validation}
        assert split.validation not in {_speaker(u) for u in meta["train_ids"]}


def test_hmm_lm_tunes_its_scale_without_the_validation_speaker(
    run: Path, config: dict, folds: list
) -> None:
    """The HMMs and the bigram of the HMM+LM's tuning step never saw the validation speaker
    (recorded ids), and its scores come from other HMMs than the ones that decode the test."""
    lm_tasks = [t for t, cs in config["tasks"].items() if "hmm_lm_vf" in cs]
    assert lm_tasks
    for fold in folds:
        split = read_split(run / f"results/folds/{fold}/split.json")
        for task in lm_tasks:
            meta = io.read_parquet_metadata(
                run / f"results/models/{task}/hmm_lm_vf/{fold}/predictions.parquet"
            )
            tuned_on = {_speaker(u) for u in meta["tuning_train_ids"]}
            assert tuned_on == set(split.train) - {split.validation}, (fold, task)
            scores = run / f"results/models/{task}/hmm_vf/{fold}/scores.parquet"
            assert set(io.read_parquet_metadata(scores)["tuning_train_ids"]) <= set(
                meta["tuning_train_ids"]
            )
            table = pd.read_parquet(scores)
            valid = table[table["split"] == "validation"]
            assert len(valid) and valid.filter(like="tune_loglik_").notna().all().all()
            assert table.loc[table["split"] != "validation"].filter(like="tune_").isna().all().all()
            # other HMMs than the decoder's (a class the validation speaker lacks may agree)
            tuned = valid.filter(regex=r"^tune_loglik_\d+$").to_numpy()
            assert not np.allclose(tuned, valid.filter(regex=r"^loglik_\d+$").to_numpy())


def test_tables_have_every_configured_row_in_range(run: Path, config: dict) -> None:
    per_fold = pd.read_parquet(run / "results/metrics/per_fold.parquet")
    expected = {(t, c) for t, cs in config["tasks"].items() for c in cs}
    assert set(zip(per_fold["task"], per_fold["classifier"], strict=True)) == expected
    for metric in ("acc", "uar", "uap", "f1", "wf1"):
        assert per_fold[metric].between(0, 1).all() and per_fold[metric].notna().all()
    for name in ("table2", "table3"):
        table = pd.read_csv(run / f"results/tables/{name}.csv")
        assert (table["corpus"] == "synthetic (not IEMOCAP)").all()
        md = (run / f"results/tables/{name}.md").read_text()
        assert "not IEMOCAP results" in md
    t2 = pd.read_csv(run / "results/tables/table2.csv")
    assert len(t2) == sum(len(cs) for t, cs in config["tasks"].items() if t.endswith("3")
                          and not t.startswith("clusters"))


def test_test_speaker_labels_do_not_leak_into_training_artifacts(
    run: Path, folds: list, tmp_path: Path
) -> None:
    """Perturbing the test speaker's annotations leaves clusters and CFS unchanged (the
    normaliser and PFA never read labels: their rules have no label input)."""
    fold = folds[0]
    index = pd.read_parquet(run / "results/index/utterances.parquet")
    rng = np.random.default_rng(0)
    perturbed = index.copy()
    mask = perturbed["speaker"] == fold
    perturbed.loc[mask, "valence"] = rng.choice([1.0, 5.0], mask.sum())
    perturbed.loc[mask, "activation"] = rng.choice([1.0, 5.0], mask.sum())
    perturbed.to_parquet(tmp_path / "index.parquet")
    excluded = [run / f"results/lld/{s}/excluded.tsv" for s in SESSIONS]
    base = run / "results/folds" / fold
    cfg = run_config(run)
    fold_stages.make_labels(
        tmp_path / "index.parquet", base / "split.json", excluded, cfg["corpus"]["utterances"],
        tmp_path / "labels.parquet", tmp_path / "clusters.json", cfg["folds"]["seed"],
    )
    assert io.read_json(tmp_path / "clusters.json") == io.read_json(base / "clusters.json")
    new = pd.read_parquet(tmp_path / "labels.parquet")
    old = pd.read_parquet(base / "labels.parquet")
    assert not new["valence3"].equals(old["valence3"])  # the perturbation took effect
    train = new["split"] != "test"
    assert new[train].reset_index(drop=True).equals(old[train].reset_index(drop=True))
    fold_stages.select_features(
        base / "functionals.parquet", tmp_path / "labels.parquet", ["valence3"],
        [tmp_path / "cfs.json"], cfg["selection"]["search_termination"],
    )
    assert io.read_json(tmp_path / "cfs.json") == io.read_json(base / "cfs/valence3.json")
    for rule_file in ("folds.smk",):
        text = (Path(__file__).parents[1] / "workflow/rules" / rule_file).read_text()
        for rule in ("fit_normalizer", "fit_pfa"):
            block = text.split(f"rule {rule}:")[1].split("\nrule ")[0]
            assert "labels" not in block.split("output:")[0], rule
