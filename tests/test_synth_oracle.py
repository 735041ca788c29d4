"""The oracle context gain (affectflow.corpus.oracle): computed from the generator's own model."""

from __future__ import annotations

import numpy as np
import pytest

from affectflow.corpus import oracle
from affectflow.corpus.synth_emotion import _coupled_ar1
from affectflow.corpus.synth_face import (
    EMOTION_LIMIT,
    face_frames,
    make_face,
    utterance_display,
)


@pytest.fixture(scope="module")
def tiny() -> dict:
    return oracle.oracle_context_gain("tiny", seed=0, n_draws=4)


def test_noise_free_evidence_leaves_nothing_for_context() -> None:
    result = oracle.oracle_context_gain("tiny", seed=0, noise_scale=0.0, n_draws=1)
    for dim in oracle.DIMENSIONS:
        assert result[dim]["gain"] == 0.0
        assert result[dim]["balanced_gain"] == 0.0
        assert result[dim]["balanced_uar_single"] > 0.5  # only the labels' own noise limits


def test_noisy_evidence_gains_from_context(tiny: dict) -> None:
    noisy = oracle.oracle_context_gain("tiny", seed=0, noise_scale=2.0, n_draws=4)
    for dim in oracle.DIMENSIONS:
        assert noisy[dim]["gain"] > 0.0, (dim, noisy[dim])
        assert noisy[dim]["uar_single"] < tiny[dim]["uar_single"] + 0.02  # more noise, worse
    assert tiny["valence"]["gain"] > 0.0


def test_oracle_is_deterministic(tiny: dict) -> None:
    assert oracle.oracle_context_gain("tiny", seed=0, n_draws=4) == tiny
    assert tiny["valence"]["n"] == tiny["activation"]["n"] > 50


def test_deviation_covariance_matches_the_generator() -> None:
    rng = np.random.default_rng(0)
    n, runs = 8, 4000
    dev = np.stack([_coupled_ar1(rng, n, 0.9, 0.12, np.array([0.22, 0.17])) for _ in range(runs)])
    for dim in (0, 1):
        empirical = np.cov(dev[:, :, 0, dim].T)
        model = oracle._deviation_cov(n, dim, speaker=0)
        assert np.abs(empirical - model).max() < 0.12 * model.max()


def test_level_probabilities_are_distributions_that_follow_the_latent() -> None:
    table = oracle._level_probabilities()
    assert np.allclose(table.sum(axis=1), 1.0)
    grid = oracle._GRID
    low, high = table[np.searchsorted(grid, 1.0)], table[np.searchsorted(grid, 5.0)]
    mid = table[np.searchsorted(grid, 3.0)]
    assert low.argmax() == 0 and mid.argmax() == 1 and high.argmax() == 2
    assert np.all(np.diff(table[:, 2]) >= -1e-12)  # P(high) grows with the latent


def test_face_evidence_noise_is_what_the_face_model_implies() -> None:
    """Read the smile weight off generated frames (knowing the face) and compare its spread
    over utterances of one latent state with the oracle's evidence model."""
    from tests.test_synth_signals import _read_weights

    rng = np.random.default_rng(7)
    face = make_face(rng)
    valence, frames = 4.5, 120
    evidence = []
    for _ in range(80):
        coords = face_frames(rng, face, valence, 3.0, np.zeros(frames), utterance_display(rng))
        w = _read_weights(face, coords)[:, 0]  # smile weight per frame
        w = EMOTION_LIMIT * np.arctanh(np.clip(w / EMOTION_LIMIT, -0.999, 0.999))  # unsaturated
        evidence.append(w.mean() / face.expressivity)  # the speaker's gain divided out
    noise = oracle.face_valence_noise()
    e_g = np.exp(0.5 * noise.gain_log_sd**2)
    e = 3.0 + 2.0 * np.array(evidence) / e_g  # rating scale, gain mean divided out
    draws = oracle._evidence(np.random.default_rng(8), np.full(4000, valence),
                             np.full(4000, valence), np.full(4000, frames), noise)
    assert abs(np.median(e) - np.median(draws)) < 0.15
    assert abs(np.std(e) / np.std(draws) - 1.0) < 0.3
