"""Per-class Gaussian HMMs: planted signals, hmmlearn parity, numeric guards, persistence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM as ReferenceHMM
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from affectflow.errors import AffectflowError
from affectflow.models import hmm as hmm_mod
from affectflow.models.hmm import GaussianHMM, HMMClassifier


def _mean_shift_data(rng, n_per_class, n_classes=3, dims=4, shift=0.8):
    """Frame sequences whose class shifts the mean of dimension (class % dims)."""
    seqs, y = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            x = rng.standard_normal((int(rng.integers(15, 50)), dims))
            x[:, c % dims] += shift
            seqs.append(x.astype(np.float32))
            y.append(c)
    return seqs, np.array(y)


def _dynamics_data(rng, n_per_class, stay=(0.95, 0.05), length=(40, 80)):
    """Two classes with the same frame distribution (a +-2 mixture) but different switching.

    Class 0 stays in its emission state (slow), class 1 alternates (fast): only a model with
    transitions can tell them apart.
    """
    seqs, y = [], []
    for c, p in enumerate(stay):
        for _ in range(n_per_class):
            n = int(rng.integers(*length))
            s = np.empty(n, dtype=int)
            s[0] = rng.integers(2)
            for t in range(1, n):
                s[t] = s[t - 1] if rng.random() < p else 1 - s[t - 1]
            x = np.where(s == 0, -2.0, 2.0)[:, None] + 0.7 * rng.standard_normal((n, 2))
            seqs.append(x)
            y.append(c)
    return seqs, np.array(y)


def _accuracy(clf, seqs, y):
    return float(np.mean(clf.predict(seqs) == y))


def test_learns_planted_mean_shift_and_is_at_chance_on_shuffled_labels():
    rng = np.random.default_rng(0)
    train, y_train = _mean_shift_data(rng, 40)
    test, y_test = _mean_shift_data(rng, 40)
    clf = HMMClassifier(n_iter=8).fit(train, y_train)
    assert list(clf.classes_) == [0, 1, 2]
    assert _accuracy(clf, test, y_test) > 0.9
    shuffled = HMMClassifier(n_iter=8).fit(train, rng.permutation(y_train))
    assert 0.1 < _accuracy(shuffled, test, y_test) < 0.5  # chance = 1/3


@pytest.mark.parametrize("init", ["kmeans", "segment"])
def test_transitions_separate_classes_with_equal_frame_distributions(init):
    rng = np.random.default_rng(1)
    train, y_train = _dynamics_data(rng, 25)
    test, y_test = _dynamics_data(rng, 25)
    clf = HMMClassifier(n_states=3, n_iter=10, init=init).fit(train, y_train)
    assert _accuracy(clf, test, y_test) > 0.9
    # a 1-state model with 2 Gaussians (a GMM: no dynamics) only sees the frame distribution
    gmm = HMMClassifier(n_states=1, n_mix=2, n_iter=10, init=init).fit(train, y_train)
    assert _accuracy(gmm, test, y_test) < 0.75


def _reference_fit(seqs, init, n_iter):
    ref = ReferenceHMM(
        n_components=init["means"].shape[0], covariance_type="diag", n_iter=n_iter,
        tol=-np.inf, init_params="", params="stmc", covars_prior=0.0,
    )
    ref.startprob_ = init["startprob"]
    ref.transmat_ = init["transmat"]
    ref.means_ = init["means"]
    ref.covars_ = init["covars"]
    X = np.concatenate(seqs).astype(np.float64)
    ref.fit(X, [len(s) for s in seqs])
    return ref


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-6)])
def test_baum_welch_matches_hmmlearn_from_the_same_start(dtype, rtol):
    rng = np.random.default_rng(2)
    d, k = 12, 3
    seqs = [
        (rng.standard_normal((int(rng.integers(3, 150)), d)) + rng.integers(0, 3)).astype(dtype)
        for _ in range(40)
    ]
    init = {
        "startprob": np.array([0.5, 0.3, 0.2]),
        "transmat": np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]]),
        "means": rng.standard_normal((k, d)),
        "covars": rng.random((k, d)) + 0.5,
    }
    n_iter = 8
    ours = GaussianHMM(n_states=k, n_iter=n_iter, tol=-np.inf).fit(seqs, init_params=init)
    ref = _reference_fit(seqs, init, n_iter)
    ref_hist = np.array(ref.monitor_.history)
    assert len(ours.history_) == n_iter == ref_hist.size
    np.testing.assert_allclose(ours.history_, ref_hist, rtol=rtol)
    assert ref_hist[-1] > ref_hist[0] + 100  # EM really moved
    np.testing.assert_allclose(ours.means_[:, 0], ref.means_, rtol=1e3 * rtol, atol=1e3 * rtol)
    np.testing.assert_allclose(ours.transmat_, ref.transmat_, rtol=1e3 * rtol, atol=1e-9)
    per_seq = np.array([ref.score(s.astype(np.float64)) for s in seqs])
    np.testing.assert_allclose(ours.loglik(seqs), per_seq, rtol=rtol)


def test_mixture_em_matches_sklearn_gaussian_mixture_for_one_state():
    # a 1-state HMM with M Gaussians is a GMM: checks the mixture E and M steps. (hmmlearn's
    # GMMHMM is no reference here: it centres the covariance statistics on the old means.)
    rng = np.random.default_rng(11)
    d, m, n_iter = 4, 3, 6
    seqs = [rng.standard_normal((20, d)) + 2 * rng.integers(0, 3) for _ in range(30)]
    w0 = np.array([0.3, 0.3, 0.4])
    mu0, v0 = rng.standard_normal((m, d)) + 2, rng.random((m, d)) + 0.5
    init = {"startprob": [1.0], "transmat": [[1.0]], "means": mu0[None], "covars": v0[None],
            "weights": w0[None]}
    ours = GaussianHMM(n_states=1, n_mix=m, n_iter=n_iter, tol=-np.inf, var_floor=0.0)
    ours.fit(seqs, init_params=init)
    ref = GaussianMixture(m, covariance_type="diag", reg_covar=0.0, max_iter=n_iter, tol=0.0,
                          weights_init=w0, means_init=mu0, precisions_init=1 / v0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(np.concatenate(seqs))
    n = sum(len(s) for s in seqs)
    np.testing.assert_allclose(ours.history_[-1] / n, ref.lower_bound_, rtol=1e-12)
    np.testing.assert_allclose(ours.means_[0], ref.means_, atol=1e-10)
    np.testing.assert_allclose(ours.covars_[0], ref.covariances_, atol=1e-10)
    np.testing.assert_allclose(ours.weights_[0], ref.weights_, atol=1e-12)


def test_packed_scoring_equals_one_sequence_at_a_time(monkeypatch):
    rng = np.random.default_rng(3)
    seqs, y = _mean_shift_data(rng, 6)
    seqs = [s.astype(np.float64) for s in seqs]  # float64: no rounding differences by block size
    clf = HMMClassifier(n_iter=3).fit(seqs, y)
    together = clf.loglik(seqs)
    alone = np.vstack([clf.loglik([s]) for s in seqs])
    np.testing.assert_allclose(together, alone, rtol=1e-9)
    monkeypatch.setattr(hmm_mod, "_MAX_SCORE_FRAMES", 60)  # many scoring batches
    np.testing.assert_allclose(clf.loglik(seqs), together, rtol=1e-12)


def test_variance_floor_prevents_collapse_on_a_constant_dimension():
    rng = np.random.default_rng(4)
    train, y_train = _mean_shift_data(rng, 20, n_classes=2)
    test, y_test = _mean_shift_data(rng, 20, n_classes=2)
    for seq, label in zip(train, y_train, strict=True):
        if label == 0:
            seq[:, 3] = 0.0  # constant within class 0 in training
    for seq, label in zip(test, y_test, strict=True):
        if label == 0:
            seq[:, 3] = 0.01 * rng.standard_normal(len(seq))  # slightly noisy at test time
    clf = HMMClassifier(n_iter=5).fit(train, y_train)
    model0 = clf.models_[0]
    assert np.all(model0.covars_ >= model0.var_floor_ * (1 - 1e-12))
    assert model0.covars_[:, 0, 3].min() > 1e-4  # 1e-3 x the global variance (~0.5)
    assert np.all(np.isfinite(clf.loglik(test)))
    assert _accuracy(clf, test, y_test) > 0.85
    unfloored = HMMClassifier(n_iter=5, var_floor=0.0).fit(train, y_train)
    assert np.mean(unfloored.predict(test)[y_test == 0] == 0) < 0.2  # collapsed: class 0 lost


def test_standalone_model_on_constant_dimension_stays_finite():
    rng = np.random.default_rng(5)
    seqs = [rng.standard_normal((30, 3)) for _ in range(10)]
    for s in seqs:
        s[:, 1] = 7.0
    hmm = GaussianHMM(n_iter=5).fit(seqs)
    assert np.all(np.isfinite(hmm.covars_)) and np.all(hmm.covars_ > 0)
    assert np.all(np.isfinite(hmm.loglik(seqs)))


def test_unvisited_state_keeps_its_parameters_instead_of_nan():
    rng = np.random.default_rng(6)
    seqs = [rng.standard_normal((40, 2)) for _ in range(10)]
    init = {
        "startprob": np.full(3, 1 / 3),
        "transmat": np.full((3, 3), 1 / 3),
        "means": np.array([[-0.5, 0.0], [0.5, 0.0], [1e3, 1e3]]),  # state 2 never visited
        "covars": np.ones((3, 2)),
    }
    hmm = GaussianHMM(n_iter=5, tol=-np.inf).fit(seqs, init_params=init)
    assert np.all(np.isfinite(hmm.means_)) and np.all(np.isfinite(hmm.transmat_))
    np.testing.assert_array_equal(hmm.means_[2, 0], [1e3, 1e3])
    assert np.all(np.diff(hmm.history_) > -1e-8)  # EM stays monotone
    assert np.all(np.isfinite(hmm.loglik(seqs)))


def test_nan_input_raises_a_clear_error():
    rng = np.random.default_rng(7)
    seqs, y = _mean_shift_data(rng, 3, n_classes=2)
    seqs[1] = seqs[1].copy()
    seqs[1][3, 2] = np.nan
    with pytest.raises(AffectflowError, match="sequence 1 frame 3 contains NaN"):
        HMMClassifier(n_iter=2).fit(seqs, y)
    good = [s for i, s in enumerate(seqs) if i != 1]
    clf = HMMClassifier(n_iter=2).fit(good, np.delete(y, 1))
    with pytest.raises(AffectflowError, match="sequence 1 frame 3"):
        clf.loglik(seqs)


def test_degenerate_inputs_raise_clear_errors():
    with pytest.raises(AffectflowError, match="frames cannot train"):
        GaussianHMM(n_states=3, n_mix=2).fit([np.zeros((4, 2))])
    with pytest.raises(AffectflowError, match="different dimensions"):
        GaussianHMM().fit([np.zeros((10, 2)), np.zeros((10, 3))])
    with pytest.raises(AffectflowError, match="not fitted"):
        HMMClassifier().loglik([np.zeros((10, 2))])


def test_mixture_states_learn_and_em_is_monotone():
    rng = np.random.default_rng(8)
    train, y_train = _mean_shift_data(rng, 25, n_classes=2)
    test, y_test = _mean_shift_data(rng, 25, n_classes=2)
    clf = HMMClassifier(n_mix=2, n_iter=8, tol=-np.inf).fit(train, y_train)
    assert _accuracy(clf, test, y_test) > 0.9
    for model in clf.models_:
        assert model.weights_.shape == (3, 2)
        np.testing.assert_allclose(model.weights_.sum(axis=1), 1.0)
        assert np.all(np.diff(model.history_) > -1e-6 * abs(model.history_[-1]))


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    rng = np.random.default_rng(9)
    seqs, y = _mean_shift_data(rng, 8)
    labels = np.array(["neg", "neu", "pos"])[y]
    clf = HMMClassifier(n_iter=3, seed=3).fit(seqs, labels)
    path = tmp_path / "model.npz"
    clf.save(path)
    loaded = HMMClassifier.load(path)
    np.testing.assert_array_equal(loaded.loglik(seqs), clf.loglik(seqs))
    np.testing.assert_array_equal(loaded.predict(seqs), clf.predict(seqs))
    assert loaded.get_params() == clf.get_params()
    assert list(loaded.classes_) == ["neg", "neu", "pos"]


def test_fit_is_deterministic_given_the_seed():
    rng = np.random.default_rng(10)
    seqs, y = _mean_shift_data(rng, 8)
    a = HMMClassifier(n_iter=3, seed=1).fit(seqs, y).loglik(seqs)
    b = HMMClassifier(n_iter=3, seed=1).fit(seqs, y).loglik(seqs)
    np.testing.assert_array_equal(a, b)


def test_emissions_are_exact_for_float32_frames_far_from_zero():
    # Face coordinates are in mm (about -80) with some variances near the floor. The expanded
    # x^2/v - 2xm/v + m^2/v form summed in float32 was off by hundreds of nats here (and by a
    # kernel-dependent amount); explicit differences in float64 agree with the formula.
    rng = np.random.default_rng(13)
    d = 60
    mu = -80 + 30 * rng.standard_normal(d)
    sd = np.full(d, 0.3)
    sd[:10] = 0.01
    seqs = [(mu + sd * rng.standard_normal((int(rng.integers(50, 150)), d))).astype(np.float32)
            for _ in range(30)]
    init = {"startprob": [1.0], "transmat": [[1.0]], "means": mu[None], "covars": (sd**2)[None]}
    model = GaussianHMM(n_states=1, n_iter=0).fit(seqs, init_params=init)
    expected = [(-0.5 * (np.log(2 * np.pi * sd**2) + ((s.astype(np.float64) - mu) / sd) ** 2)).sum()
                for s in seqs]
    np.testing.assert_allclose(model.loglik(seqs), expected, rtol=1e-12)
