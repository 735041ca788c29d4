"""One estimator convention: every model is a scikit-learn estimator scored through
:mod:`affectflow.models.scoring`, and model files written before the convention still load and
predict the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from affectflow import registry
from affectflow.models import scoring
from affectflow.models.rnn import RNNClassifier
from affectflow.models.svm import SMOClassifier

DATA = Path(__file__).parent / "data" / "models"


def _rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 5)), np.arange(40) % 3


def _seqs(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(n, 5)) for n in (4, 3, 5, 2, 3)]
    return seqs, [np.arange(len(s)) % 3 for s in seqs]


@pytest.mark.parametrize("family", ["svm", "lstm", "blstm"])
def test_every_registry_estimator_is_a_sklearn_estimator(family: str) -> None:
    cls = scoring.estimator_class(family)
    assert issubclass(cls, BaseEstimator)
    for member in ("from_config", "load", "save", "class_scores", "fit"):
        assert callable(getattr(cls, member)), (family, member)


def test_svm_clone_refits_to_the_same_predictions() -> None:
    X, y = _rows()
    model = SMOClassifier(C=0.5, seed=3).fit(X, y)
    twin = clone(model)
    assert not hasattr(twin, "coef_")  # clone copies parameters only
    assert twin.get_params() == model.get_params() == {"C": 0.5, "eps": 1e-12, "seed": 3,
                                                       "tol": 1e-3}
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), model.predict_proba(X))


def test_rnn_clone_refits_to_the_same_predictions() -> None:
    seqs, ys = _seqs()
    model = RNNClassifier(bidirectional=True, hidden=4, max_epochs=3, patience=2, seed=1)
    model.fit(seqs[:4], ys[:4], seqs[4:], ys[4:], classes=range(3))
    twin = clone(model).fit(seqs[:4], ys[:4], seqs[4:], ys[4:], classes=range(3))
    for a, b in zip(twin.predict_proba(seqs), model.predict_proba(seqs), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model", [SMOClassifier(C=2.0, seed=5),
                                   RNNClassifier(bidirectional=False, hidden=7, lr=0.1)])
def test_get_params_set_params_round_trip(model: BaseEstimator) -> None:
    params = model.get_params()
    other = type(model)(**params)
    assert other.get_params() == params
    changed = clone(model).set_params(seed=11)
    assert changed.get_params() == {**params, "seed": 11}


def test_from_config_is_the_workflows_estimator() -> None:
    svm = scoring.new_estimator("svm_vf", {"C": 1.0}, seed=0)
    assert svm.get_params()["seed"] == 1  # Weka's default -W 1 at models.seed 0
    settings = {"hidden": 5, "noise_sigma": 0.6, "optimizer": "sgd", "lr": 1e-5,
                "momentum": 0.9, "max_epochs": 2, "patience": 1, "n_init": 1, "device": "cpu"}
    blstm = scoring.new_estimator("blstm_vf", settings, seed=4)
    lstm = scoring.new_estimator("lstm_vf", settings, seed=4)
    assert blstm.bidirectional is True and lstm.bidirectional is False
    assert blstm.seed == lstm.seed == 4 and blstm.hidden == 5


def test_class_scores_cover_every_class_in_order() -> None:
    X, y = _rows()
    keep = y != 1  # class 1 absent from training: its column scores 0
    svm = SMOClassifier().fit(X[keep], y[keep])
    scores = scoring.class_scores(svm, X, 3)
    assert scores.shape == (len(X), 3)
    np.testing.assert_array_equal(scores[:, [0, 2]], svm.predict_proba(X))
    assert (scores[:, 1] == 0).all()
    seqs, ys = _seqs()
    rnn = RNNClassifier(bidirectional=False, hidden=3, max_epochs=2, patience=1)
    rnn.fit(seqs[:4], ys[:4], seqs[4:], ys[4:], classes=range(3))
    np.testing.assert_array_equal(scoring.class_scores(rnn, seqs, 3),
                                  np.vstack(rnn.predict_proba(seqs)))


def test_score_utterances_reads_conversations_as_sequences() -> None:
    """Rows of several interleaved conversations score like each conversation alone."""
    seqs, ys = _seqs()
    rnn = RNNClassifier(bidirectional=True, hidden=3, max_epochs=2, patience=1)
    rnn.fit(seqs[:4], ys[:4], seqs[4:], ys[4:], classes=range(3))
    a, b = seqs[0], seqs[1]
    X = np.vstack([a[:2], b[:1], a[2:], b[1:]])
    conv = ["a", "a", "b", "a", "a", "b", "b"]
    scores = scoring.score_utterances(rnn, "blstm", X, conv, 3)
    alone = rnn.predict_proba([a, b])
    np.testing.assert_array_equal(scores[[0, 1, 3, 4]], alone[0])
    np.testing.assert_array_equal(scores[[2, 5, 6]], alone[1])
    X_rows, y_rows = _rows()
    svm = SMOClassifier().fit(X_rows, y_rows)
    np.testing.assert_array_equal(
        scoring.score_utterances(svm, "svm", X_rows, ["c"] * len(X_rows), 3),
        svm.predict_proba(X_rows))


def test_models_saved_before_the_convention_load_and_predict_the_same(tmp_path: Path) -> None:
    """tests/data/models: an SVM and a BLSTM saved by the code before the estimators became
    scikit-learn estimators, with their probabilities then. They load through the registry,
    predict the same (the SVM bit for bit; the BLSTM to float32 rounding, since its padded
    batches now run unpacked, the packed computation's sums in another order:
    tests/test_rnn_context.py), and save to the same content."""
    expected = json.loads((DATA / "expected_v1.json").read_text())
    svm = scoring.load_model("svm", DATA / "svm_v1.json")
    np.testing.assert_array_equal(svm.predict_proba(np.asarray(expected["svm_X"])),
                                  np.asarray(expected["svm_proba"]))
    svm.save(tmp_path / "svm.json")
    assert (tmp_path / "svm.json").read_bytes() == (DATA / "svm_v1.json").read_bytes()

    rnn = scoring.load_model("blstm", DATA / "blstm_v1.pt", device="cpu")
    seqs = [np.asarray(s) for s in expected["rnn_seqs"]]
    proba = scoring.class_scores(rnn, seqs, 3)
    np.testing.assert_allclose(proba, np.asarray(expected["rnn_proba"]), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(proba.argmax(axis=1),
                                  np.asarray(expected["rnn_proba"]).argmax(axis=1))
    rnn.save(tmp_path / "blstm.pt")
    import torch

    old = torch.load(DATA / "blstm_v1.pt", weights_only=True)
    new = torch.load(tmp_path / "blstm.pt", weights_only=True)
    assert new["meta"] == old["meta"]  # same parameters, in the same order
    for key in old["state_dict"]:
        assert torch.equal(new["state_dict"][key], old["state_dict"][key])


@pytest.mark.parametrize("family", registry.bundle_families())
def test_each_bundle_family_loads_through_the_registry(family: str) -> None:
    path = DATA / ("svm_v1.json" if family == "svm" else "blstm_v1.pt")
    model = scoring.load_model(family, path, device="cpu")
    assert isinstance(model, scoring.estimator_class(family))


def test_the_context_ablations_are_the_blstm_with_its_context_fixed() -> None:
    settings = {"hidden": 5, "max_epochs": 2, "patience": 1, "device": "cpu"}
    blstm = scoring.new_estimator("blstm_vf", settings, seed=4)
    noctx = scoring.new_estimator("blstm_vf_noctx", settings, seed=4)
    shuffled = scoring.new_estimator("blstm_vf_shuffled", settings, seed=4)
    assert (blstm.context, noctx.context, shuffled.context) == ("sequence", "none", "shuffled")
    for ablation in (noctx, shuffled):
        same = {k: v for k, v in ablation.get_params().items() if k != "context"}
        assert same == {k: v for k, v in blstm.get_params().items() if k != "context"}
