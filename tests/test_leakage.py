"""Nothing the test speaker contributes reaches a fold's training side, down to the models.

The fold's jobs are run here through their stage functions (affectflow.stages, as the
workflow's scripts call them) on inputs taken from the shared tiny run, once as they are and
once perturbed in what belongs to the test speaker only:

- ``lld_noise``: independent per-frame noise on every LLD frame recorded from the test speaker
  (the audio of its utterances, every face frame showing it). Speaker normalisation removes a
  constant, not this; the test speaker's own normalised functionals change (checked).
- ``labels``: the test speaker's valence and activation mirrored on the 1..5 scale; its level
  and cluster labels change (checked).

Then every training-side artifact is identical: the normaliser's training statistics, PFA,
clusters, the training rows of labels and functionals, the CFS subsets; and with the labels
perturbed, the SVM, HMM, HMM+LM and BLSTM predictions for the test speaker are identical too
(their ``y_true`` differs: the changed labels did reach the models' input files).

The helpers take the corpus selection (``corpus.utterances``) and the LLD files as arguments,
so the same checks serve another selection given LLDs that cover it (the tiny run extracts the
wearer-only utterances).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from affectflow import fold_data, io
from affectflow.models.rnn import RNNClassifier
from affectflow.normalize import Normalizer
from affectflow.selection.pfa import PFAResult
from affectflow.stages import folds as fold_stages
from affectflow.stages import models as model_stages
from tests.conftest import run_config

pytestmark = pytest.mark.e2e

#: The fold under test, its validation speaker's partner session kept whole by the split rule.
FOLD = "Ses02F"
TASK = "valence3"
#: Short model settings: the models only have to be the same, not good. The BLSTM's Adam at a
#: high rate overfits within a few epochs, so its validation loss has an interior minimum and
#: the early-stopping epoch and the choice between the two initialisations depend on the
#: validation labels: the test speaker's labels there would change the predictions.
# Online updates: the tiny fold has few conversations, so the workflow's batches of 8 would make
# about one update per epoch, too few for the validation minimum to fall within 10 epochs.
RNN_SHORT = {"hidden": 16, "optimizer": "adam", "lr": 0.01, "batch_size": 1, "max_epochs": 10,
             "patience": 10, "n_init": 2, "device": "cpu"}
HMM_SHORT = {"n_iter": 5}
PERTURBATIONS = ("lld_noise", "labels")
MODEL_EXT = {"svm_vf": "json", "blstm_vf": "pt", "hmm_vf": "npz", "hmm_lm_vf": "json"}


@dataclass(frozen=True)
class FoldInputs:
    """What a fold's jobs read: the corpus index, per-session LLD files and their exclusion
    lists, and the utterance selection (``corpus.utterances``)."""

    index: Path
    audio: tuple[Path, ...]
    face: tuple[Path, ...]
    excluded: tuple[Path, ...]
    utterances: str


def run_inputs(run: Path) -> FoldInputs:
    """The fold inputs of a finished workflow directory."""
    lld = sorted(p.parent for p in (run / "results/lld").glob("*/audio.parquet"))
    return FoldInputs(
        index=run / "results/index/utterances.parquet",
        audio=tuple(p / "audio.parquet" for p in lld),
        face=tuple(p / "face.parquet" for p in lld),
        excluded=tuple(p / "excluded.tsv" for p in lld),
        utterances=run_config(run)["corpus"]["utterances"],
    )


def prepare_fold(src: FoldInputs, fold: str, out: Path, config: Mapping[str, Any]) -> dict:
    """Run the fold's preparation jobs (split, normaliser, PFA, labels, functionals, CFS of
    ``TASK``) into ``out``; their output paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    p = {name: out / name for name in ("split.json", "normalizer.npz", "pfa.json",
                                       "labels.parquet", "clusters.json", "functionals.parquet")}
    p["cfs"] = out / f"cfs_{TASK}.json"
    folds = config["folds"]
    fold_stages.split_fold(src.index, fold, src.utterances, p["split.json"])
    fold_stages.fit_normalizer(p["split.json"], src.audio, src.face, p["normalizer.npz"])
    fold_stages.fit_pfa(p["split.json"], p["normalizer.npz"], src.face, p["pfa.json"],
                          folds["pfa"], folds["seed"])
    fold_stages.make_labels(src.index, p["split.json"], src.excluded, src.utterances,
                              p["labels.parquet"], p["clusters.json"], folds["seed"])
    fold_stages.compute_functionals(p["split.json"], p["normalizer.npz"], p["pfa.json"],
                                      src.audio, src.face, p["functionals.parquet"])
    fold_stages.select_features(p["functionals.parquet"], p["labels.parquet"], [TASK],
                                  [p["cfs"]], config["selection"]["search_termination"])
    return p


def train_models(src: FoldInputs, prep: dict, out: Path, config: Mapping[str, Any]) -> dict:
    """Train the fold's SVM, v+f HMM, HMM+LM and BLSTM for ``TASK`` with short settings;
    their predictions.parquet paths by classifier."""
    models, seed = config["models"], config["models"]["seed"]
    functional = {"functionals": prep["functionals.parquet"], "labels": prep["labels.parquet"],
                  "split": prep["split.json"], "cfs": [prep["cfs"]]}

    def outputs(classifier: str, *names: str) -> dict[str, list[Path]]:
        (out / classifier).mkdir(parents=True, exist_ok=True)
        ext = {"model": MODEL_EXT[classifier]}
        return {n: [out / classifier / f"{n}.{ext.get(n, 'parquet')}"] for n in names}

    svm = outputs("svm_vf", "model", "predictions")
    model_stages.train_models(functional, [TASK], "svm_vf", svm, models["svm"], seed)
    blstm = outputs("blstm_vf", "model", "predictions")
    model_stages.train_models(functional, [TASK], "blstm_vf", blstm,
                              {**models["blstm"], **RNN_SHORT}, seed)
    hmm = outputs("hmm_vf", "model", "scores", "predictions")
    hmm_inputs = {"split": prep["split.json"], "normalizer": prep["normalizer.npz"],
                  "pfa": prep["pfa.json"], "labels": prep["labels.parquet"],
                  "audio": list(src.audio), "face": list(src.face)}
    model_stages.train_hmm(hmm_inputs, [TASK], "vf", hmm, {**models["hmm"], **HMM_SHORT},
                             seed, tuning_tasks=[TASK])
    lm = outputs("hmm_lm_vf", "model", "predictions")
    model_stages.train_hmm_lm({"scores": hmm["scores"], "split": prep["split.json"],
                                 "labels": prep["labels.parquet"]},
                                [TASK], lm, models["hmm_lm"])
    return {name: paths["predictions"][0] for name, paths in
            (("svm_vf", svm), ("blstm_vf", blstm), ("hmm_vf", hmm), ("hmm_lm_vf", lm))}


# ---------------------------------------------------------------------------- perturbations


def frames_of(frames: pd.DataFrame, test: str, kind: str) -> np.ndarray:
    """Frames recorded from ``test``: its voice (audio) or its face (face: the dialog's
    marker wearer)."""
    ids = frames["utt_id"]
    owner = fold_data.utterance_speakers(ids) if kind == "audio" else fold_data.face_owners(ids)
    return (owner == test).to_numpy()


def with_noisy_lld(src: FoldInputs, test: str, out: Path, seed: int = 7) -> FoldInputs:
    """Copies of the LLD files with per-frame noise on every frame recorded from ``test``:
    standard deviation 1 on each audio LLD, 1 to 5 mm on each face coordinate."""
    rng = np.random.default_rng(seed)
    paths: dict[str, list[Path]] = {"audio": [], "face": []}
    for kind in ("audio", "face"):
        for path in getattr(src, kind):
            df = pd.read_parquet(path)
            rows = frames_of(df, test, kind)
            cols = [c for c in df.columns if c not in ("utt_id", "frame", "time")]
            scale = rng.uniform(1.0, 5.0, size=len(cols)) if kind == "face" else 1.0
            noise = rng.normal(size=(int(rows.sum()), len(cols))) * scale
            df.loc[rows, cols] = (df.loc[rows, cols].to_numpy(np.float64) + noise).astype(
                df[cols].dtypes.iloc[0])
            target = out / path.parent.name / path.name
            io.write_parquet(df, target)
            paths[kind].append(target)
    return replace(src, audio=tuple(paths["audio"]), face=tuple(paths["face"]))


def with_relabelled_index(src: FoldInputs, test: str, out: Path) -> FoldInputs:
    """A copy of the index with ``test``'s valence and activation mirrored (6 - x)."""
    index = pd.read_parquet(src.index)
    rows = index["speaker"] == test
    index.loc[rows, ["valence", "activation"]] = 6.0 - index.loc[rows, ["valence", "activation"]]
    out.mkdir(parents=True, exist_ok=True)
    io.write_parquet(index, out / "utterances.parquet")
    return replace(src, index=out / "utterances.parquet")


PERTURB: dict[str, Callable[[FoldInputs, str, Path], FoldInputs]] = {
    "lld_noise": with_noisy_lld, "labels": with_relabelled_index,
}


# ------------------------------------------------------------------------------- comparisons


def training_side_differences(a: dict, b: dict) -> list[str]:
    """Names of the training-side artifacts that differ (exactly) between two preparations of
    the same fold (:func:`prepare_fold` outputs)."""
    diffs = []
    for name in ("split.json", "pfa.json", "clusters.json", "cfs"):
        if io.read_json(a[name]) != io.read_json(b[name]):
            diffs.append(name)
    na, nb = Normalizer.load(a["normalizer.npz"]), Normalizer.load(b["normalizer.npz"])
    diffs += [f"normaliser {k}" for k in ("audio_mean", "audio_std", "face_global_mean")
              if not np.array_equal(getattr(na, k), getattr(nb, k))]
    diffs += [f"face mean of {s}" for s in na.train_speakers if not np.array_equal(
        na.face_speaker_mean[s], nb.face_speaker_mean[s], equal_nan=True)]
    la, lb = pd.read_parquet(a["labels.parquet"]), pd.read_parquet(b["labels.parquet"])
    train = la.loc[la["split"] != "test", "utt_id"]
    if set(train) != set(lb.loc[lb["split"] != "test", "utt_id"]):
        diffs.append("training utterances")

    def rows(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["utt_id"].isin(train)].sort_values("utt_id").reset_index(drop=True)

    if not rows(la).equals(rows(lb)):
        diffs.append("training labels")
    fa, fb = pd.read_parquet(a["functionals.parquet"]), pd.read_parquet(b["functionals.parquet"])
    if not rows(fa).equals(rows(fb)):
        diffs.append("training functionals")
    return diffs


def own_rows(prep: dict, test: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test speaker's rows of a preparation's labels and functionals (by utt_id)."""
    lab = pd.read_parquet(prep["labels.parquet"])
    ids = lab.loc[lab["split"] == "test", "utt_id"]
    assert len(ids) and set(lab.loc[lab["split"] == "test", "speaker"]) == {test}
    fun = pd.read_parquet(prep["functionals.parquet"]).set_index("utt_id")
    return lab.set_index("utt_id").loc[ids], fun.loc[ids]


def assert_took_effect(perturbation: str, a: dict, b: dict, test: str) -> None:
    """The perturbation changed the test speaker's own functionals (every utterance) or its
    labels (some utterances, every task)."""
    lab_a, fun_a = own_rows(a, test)
    lab_b, fun_b = own_rows(b, test)
    if perturbation == "lld_noise":
        face = PFAResult.from_json(io.read_json(a["pfa.json"])).selected[0]
        for prefix in ("mfcc", "pitch", face):
            cols = [c for c in fun_a.columns if c.startswith(prefix)]
            assert cols and (fun_a[cols] != fun_b[cols]).any(axis=1).all(), prefix
        pd.testing.assert_frame_equal(lab_a, lab_b)
    else:
        for task in ("valence3", "activation3", "clusters3", "clusters4", "clusters5"):
            assert (lab_a[task] != lab_b[task]).any(), task
        pd.testing.assert_frame_equal(fun_a, fun_b)


# ------------------------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def fold_case(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The inputs, config and unperturbed preparation of fold ``FOLD`` (computed once)."""
    src = run_inputs(tiny_run)
    config = run_config(tiny_run)
    root = tmp_path_factory.mktemp("leakage")
    return {"src": src, "config": config, "root": root,
            "base": prepare_fold(src, FOLD, root / "base", config)}


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_fold_preparation_ignores_the_test_speaker(
    fold_case: dict, tmp_path: Path, perturbation: str
) -> None:
    src = PERTURB[perturbation](fold_case["src"], FOLD, tmp_path / "inputs")
    other = prepare_fold(src, FOLD, tmp_path / "fold", fold_case["config"])
    assert_took_effect(perturbation, fold_case["base"], other, FOLD)
    assert training_side_differences(fold_case["base"], other) == []


def test_models_ignore_the_test_speakers_labels(fold_case: dict, tmp_path: Path) -> None:
    """SVM, HMM, HMM+LM and BLSTM trained with the test speaker's labels changed predict
    exactly the same for the test speaker; only y_true (read from the labels) differs."""
    src, config, base = fold_case["src"], fold_case["config"], fold_case["base"]
    relabelled = with_relabelled_index(src, FOLD, tmp_path / "inputs")
    other = prepare_fold(relabelled, FOLD, tmp_path / "fold", config)
    assert training_side_differences(base, other) == []
    before = train_models(src, base, tmp_path / "models_before", config)
    after = train_models(relabelled, other, tmp_path / "models_after", config)
    for classifier, path in before.items():
        a, b = pd.read_parquet(path), pd.read_parquet(after[classifier])
        assert (a["y_true"] != b["y_true"]).any(), f"{classifier}: labels did not change"
        assert set(fold_data.utterance_speakers(a["utt_id"])) == {FOLD}, classifier
        pd.testing.assert_frame_equal(a.drop(columns="y_true"), b.drop(columns="y_true"),
                                      check_exact=True, obj=classifier)
    # Early stopping decided (a minimum before the last epoch), so it is covered too.
    blstm = RNNClassifier.load(before["blstm_vf"].with_name("model.pt"))
    assert 1 <= blstm.best_epoch_ < RNN_SHORT["max_epochs"], blstm.best_epoch_
