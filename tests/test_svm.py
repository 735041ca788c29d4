"""SMO linear SVM: learns planted signals, Weka 3.6 parity, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectflow.models.svm import SMOClassifier, _JavaRandom, _weka_randomize
from tests.weka_util import requires_weka, weka_smo_predict, write_arff


def functionals(n: int, d: int, k: int, shift: float, seed: int, informative: int = 5,
                centre_seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Utterance functionals: class-dependent shift on ``informative`` columns, mixed scales.

    Values are rounded to 4 decimals so that the ARFF text holds exactly what we train on.
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(centre_seed).normal(0.0, 1.0, (k, informative))
    scales = np.random.default_rng(centre_seed + 1).uniform(0.1, 20.0, d)
    offsets = np.random.default_rng(centre_seed + 2).normal(0.0, 50.0, d)
    y = rng.integers(0, k, n)
    X = rng.normal(0.0, 1.0, (n, d))
    X[:, :informative] += shift * centres[y]
    return np.round(X * scales + offsets, 4), y


def test_learns_planted_signal() -> None:
    X, y = functionals(900, 12, 3, 2.5, seed=1)
    Xt, yt = functionals(600, 12, 3, 2.5, seed=2)
    model = SMOClassifier().fit(X, y)
    assert np.mean(model.predict(Xt) == yt) > 0.8  # chance: 1/3


def test_chance_on_shuffled_labels() -> None:
    # Shuffled labels (training and test) are independent of the features.
    X, y = functionals(900, 12, 3, 2.5, seed=1)
    Xt, yt = functionals(1500, 12, 3, 2.5, seed=2)
    rng = np.random.default_rng(0)
    acc = np.mean(SMOClassifier().fit(X, rng.permutation(y)).predict(Xt) == rng.permutation(yt))
    assert 0.28 < acc < 0.39  # chance 1/3; +-0.055 is about 4.5 standard errors


def test_string_labels_votes_and_probabilities() -> None:
    X, y = functionals(400, 6, 4, 2.0, seed=3)
    names = np.array(["ang", "hap", "neu", "sad"])
    model = SMOClassifier().fit(X, names[y])
    assert model.classes_.tolist() == names.tolist()
    assert model.pairs_.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    proba = model.predict_proba(X[:50])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba * 6, np.round(proba * 6))  # votes / 6 pairs
    assert (names[proba.argmax(axis=1)] == model.predict(X[:50])).all()
    out = model.decision_function(X[:50])
    assert out.shape == (50, 6)


def test_constant_attribute_is_ignored() -> None:
    X, y = functionals(300, 5, 2, 2.0, seed=4)
    X = np.column_stack([X, np.full(len(X), 3.25)])
    model = SMOClassifier().fit(X, y)
    Xt = X[:20].copy()
    Xt[:, -1] = 1e6  # a constant training attribute maps to 0 whatever the test value
    np.testing.assert_array_equal(model.decision_function(Xt), model.decision_function(X[:20]))
    assert model.coef_[0, -1] == 0.0


def test_absent_class_never_gets_a_vote() -> None:
    X, y = functionals(300, 5, 2, 2.0, seed=5)
    model = SMOClassifier().fit(X, y * 2, classes=[0, 1, 2])  # class 1 has no instances
    assert model.predict_proba(X)[:, 1].max() == 0.0
    assert set(model.predict(X).tolist()) <= {0, 2}


def test_save_load_round_trip(tmp_path: Path) -> None:
    X, y = functionals(300, 8, 3, 1.0, seed=6)
    model = SMOClassifier().fit(X, y)
    model.save(tmp_path / "svm.json")
    loaded = SMOClassifier.load(tmp_path / "svm.json")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_java_random_and_randomize_match_java() -> None:
    # Reference values printed by OpenJDK 17: new Random(1).nextInt(bound) for these bounds.
    rng = _JavaRandom(1)
    bounds = [10, 7, 1000, 16, 3, 2147483647, 1 << 30, 12345]
    got = [rng.next_int(bounds[k % len(bounds)]) for k in range(16)]
    assert got == [5, 4, 847, 6, 2, 77814904, 357252217, 9121,
                   8, 6, 569, 2, 1, 342691263, 1009172781, 754]
    perm = _weka_randomize(50, _JavaRandom(1))
    assert sorted(perm.tolist()) == list(range(50))


# (n_train, n_features, n_classes, shift): overlapping classes, so the task is not trivial
PARITY_SETS = [(400, 6, 2, 0.8), (500, 15, 3, 0.6), (600, 25, 4, 0.7), (700, 40, 5, 0.6)]


@pytest.mark.weka
@requires_weka
@pytest.mark.parametrize(("n", "d", "k", "shift"), PARITY_SETS)
def test_weka_smo_parity(tmp_path: Path, n: int, d: int, k: int, shift: float) -> None:
    X, y = functionals(n + 400, d, k, shift, seed=100 + k, informative=min(d, 6))
    X[:, d // 2] = 7.0  # one constant attribute
    X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]
    write_arff(tmp_path / "train.arff", X_train, y_train, k)
    write_arff(tmp_path / "test.arff", X_test, y_test, k)
    ours = SMOClassifier().fit(X_train, y_train, classes=np.arange(k)).predict(X_test)
    weka = weka_smo_predict(tmp_path / "train.arff", tmp_path / "test.arff")
    agreement = float(np.mean(ours == weka))
    print(f"SMO parity n={n} d={d} k={k}: {agreement:.2%} agreement, "
          f"accuracy ours {np.mean(ours == y_test):.3f} weka {np.mean(weka == y_test):.3f}")
    assert len(weka) == len(X_test)
    assert np.mean(weka == y_test) > 1.5 / k  # the task is learnable, not trivial
    assert np.mean(weka == y_test) < 0.97
    assert agreement >= 0.98
