"""Where the corpus's own model says context pays, the BLSTM finds it (issue 15, test (b)).

The data: the dialogs of the ``iemocap`` preset's plan as the oracle of
:mod:`affectflow.corpus.oracle` sees them, one number of evidence per utterance and dimension
drawn with the generator's noise model at twice its noise (``noise_scale=2``), and the levels of
the rater-mean labels the workflow uses as truth. At that noise the oracle's whole-sequence
decision beats its single-utterance one by a large margin (asserted below). ``blstm_vf`` and
``blstm_vf_noctx`` (the workflow's BLSTM block from ``config.yaml`` with 32 memory blocks for
speed, the same seed) are trained on session-independent folds (test one session, stop early
on the next, train on the other three; three of the five folds, every other dialog, to keep
the test near a minute) and compared on the pooled F1 over the test utterances. Everything is
seeded, so the outcome is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from affectflow.corpus.oracle import evidence_sequences, oracle_context_gain
from affectflow.evaluation.metrics import fold_metrics
from affectflow.models.rnn import RNNClassifier

REPO = Path(__file__).resolve().parents[1]
PRESET, NOISE_SCALE = "iemocap", 2.0
DIMENSION = 0  # valence
SESSIONS = (1, 2, 3, 4, 5)
TEST_SESSIONS = (1, 3, 5)
HIDDEN = 32


def _pooled_f1(context: str, data: list) -> float:
    config = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    truth, pred = [], []
    for test in TEST_SESSIONS:
        valid = test % len(SESSIONS) + 1
        roles = {test: "test", valid: "valid"}
        part: dict[str, list] = {"train": [], "valid": [], "test": []}
        for d in data:
            part[roles.get(d.session, "train")].append(d)
        model = RNNClassifier.from_config({**config["blstm"], "hidden": HIDDEN}, config["seed"],
                                          bidirectional=True, context=context)
        model.fit([d.evidence for d in part["train"]],
                  [d.level[:, DIMENSION] for d in part["train"]],
                  [d.evidence for d in part["valid"]],
                  [d.level[:, DIMENSION] for d in part["valid"]], classes=[0, 1, 2])
        assert model.best_epoch_ <= model.max_epochs - model.patience  # stopped early
        truth.append(np.concatenate([d.level[:, DIMENSION] for d in part["test"]]))
        pred.append(np.concatenate(model.predict([d.evidence for d in part["test"]])))
    return fold_metrics(np.concatenate(truth), np.concatenate(pred), 3)["f1"]


def test_blstm_beats_no_context_where_the_oracle_gain_is_large() -> None:
    gain = oracle_context_gain(PRESET, noise_scale=NOISE_SCALE, n_draws=1)["valence"]
    assert gain["gain"] >= 0.10  # the documented large oracle context gain
    data = evidence_sequences(PRESET, noise_scale=NOISE_SCALE)[::2]
    with_context = _pooled_f1("sequence", data)
    without = _pooled_f1("none", data)
    assert with_context > without + 0.02, (with_context, without)
