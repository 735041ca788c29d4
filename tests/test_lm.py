"""HMM+LM: class bigram counts, length-normalised posteriors, greedy and Viterbi decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import softmax

from affectflow.errors import AffectflowError
from affectflow.models.lm import (
    BigramLM,
    decode_greedy,
    decode_viterbi,
    loglik_to_logprob,
    tune_scale,
)


def test_bigram_counts_with_add_one_smoothing_on_a_hand_example():
    lm = BigramLM(n_classes=3, smoothing=1.0).fit([np.array([0, 0, 1]), np.array([1, 2])])
    np.testing.assert_array_equal(lm.counts_, [[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_allclose(
        lm.transmat_, [[2 / 5, 2 / 5, 1 / 5], [1 / 4, 1 / 4, 2 / 4], [1 / 3, 1 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(lm.initial_, [2 / 5, 2 / 5, 1 / 5])
    np.testing.assert_allclose(lm.log_transmat_, np.log(lm.transmat_))
    # no transition crosses dialogs: 1 -> 1 (end of dialog 0 -> start of dialog 1) is not counted
    assert lm.counts_[1, 1] == 0


def test_unsmoothed_rows_without_counts_fall_back_to_uniform_and_round_trip():
    lm = BigramLM(n_classes=2, smoothing=0.0).fit([np.array([0, 0, 0])])
    np.testing.assert_allclose(lm.transmat_, [[1.0, 0.0], [0.5, 0.5]])
    again = BigramLM.from_dict(json.loads(json.dumps(lm.to_dict())))
    np.testing.assert_array_equal(again.transmat_, lm.transmat_)
    np.testing.assert_array_equal(again.initial_, lm.initial_)


def test_bad_labels_raise():
    with pytest.raises(AffectflowError, match="0..2"):
        BigramLM(3).fit([np.array([0, 3])])
    with pytest.raises(AffectflowError, match="class indices"):
        BigramLM(3).fit([np.array([0.5, 1.0])])


def test_loglik_to_logprob_is_a_length_normalised_softmax():
    loglik = np.array([[-100.0, -110.0, -130.0], [-50.0, -40.0, -45.0]])
    n_frames = np.array([10, 5])
    lp = loglik_to_logprob(loglik, n_frames, scale=2.0)
    np.testing.assert_allclose(np.exp(lp), softmax(2.0 * loglik / n_frames[:, None], axis=1))
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0)
    np.testing.assert_allclose(loglik_to_logprob(loglik, n_frames, 0.0), np.log(1 / 3))
    shifted = loglik_to_logprob(loglik + 1e4, n_frames, 2.0)  # shift-invariant, no overflow
    np.testing.assert_allclose(shifted, lp)
    with pytest.raises(AffectflowError):
        loglik_to_logprob(loglik, np.array([10, 0]), 1.0)


def test_greedy_conditions_on_the_recognised_previous_class():
    lm = BigramLM(n_classes=3, smoothing=0.0).fit([np.array([0, 1, 2, 0, 1, 2, 0])])
    # cycle 0 -> 1 -> 2 -> 0: only the recognised class of t - 1 decides which move is allowed
    evidence = np.log(np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6], [0.4, 0.2, 0.4]]))
    np.testing.assert_array_equal(decode_greedy(evidence, lm), [0, 1, 2])
    np.testing.assert_array_equal(np.argmax(evidence, axis=1), [0, 2, 0])


def test_viterbi_revises_an_early_choice_that_greedy_keeps():
    lm = BigramLM(n_classes=2, smoothing=1.0).fit([np.array([0] * 50), np.array([1] * 50)])
    evidence = np.log(np.array([[0.55, 0.45], [0.01, 0.99], [0.01, 0.99]]))
    assert decode_greedy(evidence, lm).tolist() == [0, 1, 1]
    assert decode_viterbi(evidence, lm).tolist() == [1, 1, 1]


def test_first_utterance_uses_uniform_or_initial_distribution():
    lm = BigramLM(n_classes=2, smoothing=1.0).fit([np.array([1, 1])] * 20)
    evidence = np.log(np.array([[0.6, 0.4]]))
    assert decode_greedy(evidence, lm).tolist() == [0]
    assert decode_greedy(evidence, lm, first="initial").tolist() == [1]
    assert decode_viterbi(evidence, lm, first="initial").tolist() == [1]


def _sticky_dialogs(rng, n_dialogs, n_classes=3, p_stay=0.85, signal=0.05, noise=0.06):
    """Sticky class chains with noisy HMM-like log-likelihoods (per-frame mean + noise)."""
    labels, logliks, frames = [], [], []
    for _ in range(n_dialogs):
        n = int(rng.integers(20, 50))
        y = np.empty(n, dtype=np.int64)
        y[0] = rng.integers(n_classes)
        for t in range(1, n):
            y[t] = y[t - 1] if rng.random() < p_stay else rng.integers(n_classes)
        nf = rng.integers(50, 300, size=n)
        per_frame = signal * np.eye(n_classes)[y] + noise * rng.standard_normal((n, n_classes))
        labels.append(y)
        logliks.append((per_frame - 1.5) * nf[:, None])
        frames.append(nf)
    return labels, logliks, frames


def test_lm_decoding_beats_the_evidence_alone_on_sticky_dialogs():
    rng = np.random.default_rng(0)
    train_y, _, _ = _sticky_dialogs(rng, 60)
    val_y, val_ll, val_nf = _sticky_dialogs(rng, 20)
    test_y, test_ll, test_nf = _sticky_dialogs(rng, 60)
    lm = BigramLM(n_classes=3).fit(train_y)
    assert np.all(np.diag(lm.transmat_) > 0.8)
    scale, scores = tune_scale(val_ll, val_nf, val_y, lm, metric="accuracy")
    assert scores.shape == (52,) and scale > 0
    truth = np.concatenate(test_y)
    evidence = np.mean(np.concatenate([np.argmax(ll, axis=1) for ll in test_ll]) == truth)
    logprobs = [loglik_to_logprob(ll, nf, scale) for ll, nf in zip(test_ll, test_nf, strict=True)]
    greedy = np.mean(np.concatenate([decode_greedy(lp, lm) for lp in logprobs]) == truth)
    viterbi = np.mean(np.concatenate([decode_viterbi(lp, lm) for lp in logprobs]) == truth)
    assert 0.45 < evidence < 0.8
    assert greedy > evidence + 0.05
    assert viterbi >= greedy
    # scale 0 leaves only the LM (no evidence): far worse than the tuned scale
    assert scores[0] < scores.max() - 0.2


def test_tune_scale_picks_the_middle_of_a_plateau():
    lm = BigramLM(n_classes=2).fit([np.array([0, 0, 0, 1, 1, 1])])
    loglik = [np.array([[-10.0, -20.0], [-20.0, -10.0]])]
    scale, scores = tune_scale(loglik, [np.array([10, 10])], [np.array([0, 1])], lm,
                               grid=[0.0, 1.0, 2.0, 3.0, 4.0])
    assert scores.tolist() == [0.5, 1.0, 1.0, 1.0, 1.0]  # scale 0: the sticky LM alone
    assert scale == 3.0
    with pytest.raises(AffectflowError, match="metric"):
        tune_scale(loglik, [np.array([10, 10])], [np.array([0, 1])], lm, metric="f1")
