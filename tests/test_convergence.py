"""A fit that reaches max_epochs without early stopping is warned about and recorded."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from affectflow.models.fitting import fit_model

TASK = "valence3"


def _fold(seed: int = 0) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Three roles of a few conversations each, labels carried by the first feature."""
    rng = np.random.default_rng(seed)
    rows, X = {}, {}
    for role, n_dialogs in (("train", 6), ("validation", 2), ("test", 2)):
        frames = []
        for d in range(n_dialogs):
            n = 6
            frames.append(pd.DataFrame({
                "utt_id": [f"{role}{d}_{t}" for t in range(n)], "dialog": f"{role}{d}",
                "speaker": f"S{role}", "turn": np.arange(n), TASK: rng.integers(0, 3, n),
            }))
        rows[role] = pd.concat(frames, ignore_index=True)
        X[role] = rng.normal(size=(len(rows[role]), 4))
        X[role][:, 0] += 2.0 * rows[role][TASK].to_numpy()
    return rows, X


SETTINGS = {"hidden": 4, "noise_sigma": 0.0, "optimizer": "adam", "lr": 0.01, "device": "cpu"}


@pytest.mark.parametrize("classifier", ["blstm_vf", "blstm_vf_noctx"])
def test_two_epochs_reach_the_cap_and_warn(classifier: str, caplog) -> None:
    rows, X = _fold()
    fitted = fit_model(classifier, rows, X, TASK, {**SETTINGS, "max_epochs": 2,
                                                   "patience": 20}, seed=0)
    assert fitted.reached_max_epochs is True
    meta = fitted.training_metadata()
    assert meta == {"best_epoch": fitted.model.best_epoch_, "max_epochs": 2, "patience": 20,
                    "reached_max_epochs": True}
    with caplog.at_level(logging.INFO, logger="affectflow"):
        fitted.warn_if_capped(f"BLSTM {TASK}")
    assert any(r.levelno == logging.WARNING and "reached max_epochs (2)" in r.getMessage()
               for r in caplog.records)


def test_a_fit_stopped_by_patience_is_not_capped(caplog) -> None:
    rows, X = _fold()
    fitted = fit_model("blstm_vf", rows, X, TASK, {**SETTINGS, "max_epochs": 200,
                                                   "patience": 2}, seed=0)
    assert len(fitted.model.history_) < 200  # the patience rule stopped it
    assert fitted.reached_max_epochs is False
    with caplog.at_level(logging.INFO, logger="affectflow"):
        fitted.warn_if_capped(f"BLSTM {TASK}")
    assert not caplog.records


def test_models_without_epochs_record_nothing() -> None:
    rows, X = _fold()
    fitted = fit_model("svm_vf", rows, X, TASK, {"C": 1.0}, seed=0)
    assert fitted.reached_max_epochs is None and fitted.training_metadata() == {}
