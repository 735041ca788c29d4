"""LSTM / BLSTM sequence labellers: planted signals, use of context, determinism, persistence.

Tests about *what the architecture can see* (past vs future context) train with Adam
(``optimizer="adam"``, lr 1e-2, small hidden layers) so that they finish in about a second;
the paper's optimiser (online SGD, lr 1e-5, momentum 0.9) needs thousands of updates to move
the recurrent weights enough to carry a cue across time steps, which is a property of the
optimiser, not of the architecture. The planted-signal tests use the paper's optimiser and, for
the BLSTM, the paper's 128 memory blocks per direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.models.rnn import RNNClassifier
from affectflow.models.svm import SMOClassifier

K = 3  # classes


def sequences(n_seq: int, seed: int, shift: float = 2.0, offset: int = 0, d: int = 6,
              mean_len: int = 12, informative: int = 4
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dialog-like sequences of utterance functionals with i.i.d. uniform labels.

    The features of utterance ``t + offset`` carry a class-dependent shift for the label of
    utterance ``t`` (offset 0: its own features; +1: the next utterance's, i.e. the future;
    -1: the previous one's, the past). Where ``t + offset`` falls outside the sequence the
    shift encodes a random class. Columns are on different scales and offsets.
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0.0, 1.0, (K, informative))
    scale = np.random.default_rng(98).uniform(0.5, 30.0, d)
    shift_all = np.random.default_rng(97).normal(0.0, 100.0, d)
    seqs, labels = [], []
    for _ in range(n_seq):
        T = int(rng.integers(mean_len - 4, mean_len + 5))
        y = rng.integers(0, K, T)
        carried = np.roll(y, offset)  # carried[t] = y[t - offset]
        if offset > 0:
            carried[:offset] = rng.integers(0, K, offset)
        elif offset < 0:
            carried[offset:] = rng.integers(0, K, -offset)
        X = rng.normal(0.0, 1.0, (T, d))
        X[:, :informative] += shift * centres[carried]
        seqs.append(X * scale + shift_all)
        labels.append(y)
    return seqs, labels


def accuracy(model: RNNClassifier, data: tuple[list[np.ndarray], list[np.ndarray]]) -> float:
    pred = np.concatenate(model.predict(data[0]))
    return float(np.mean(pred == np.concatenate(data[1])))


def adam(bidirectional: bool, **kw: object) -> RNNClassifier:
    params = {"hidden": 16, "optimizer": "adam", "lr": 1e-2, "max_epochs": 25, "patience": 8,
              "seed": 0}
    params.update(kw)
    return RNNClassifier(bidirectional=bidirectional, **params)


@pytest.fixture(scope="module")
def future_cue() -> dict[str, tuple]:
    """The label of utterance t is only in the features of utterance t + 1."""
    return {
        "train": sequences(60, seed=1, offset=1),
        "valid": sequences(15, seed=2, offset=1),
        "test": sequences(40, seed=3, offset=1),
    }


@pytest.fixture(scope="module")
def blstm_future(future_cue: dict[str, tuple]) -> RNNClassifier:
    return adam(True).fit(*future_cue["train"], *future_cue["valid"])


def test_lstm_learns_planted_signal_with_paper_optimiser() -> None:
    train = sequences(20, 11, shift=2.5, mean_len=40)
    valid, test = sequences(8, 12, shift=2.5), sequences(30, 13, shift=2.5)
    model = RNNClassifier(bidirectional=False, hidden=16, max_epochs=40, patience=40)
    assert (model.optimizer, model.lr, model.momentum, model.noise_sigma) == (
        "sgd", 1e-5, 0.9, 0.6
    )
    model.fit(*train, *valid)
    assert accuracy(model, test) > 0.7  # chance: 1/3


def test_blstm_128_learns_planted_signal_with_paper_optimiser() -> None:
    train, valid, test = sequences(30, 21, mean_len=30), sequences(8, 22), sequences(30, 23)
    model = RNNClassifier(bidirectional=True, max_epochs=15, patience=15).fit(*train, *valid)
    assert model.hidden == 128
    assert model.net_.lstm.hidden_size == 128 and model.net_.lstm.bidirectional
    assert model.net_.out.in_features == 256
    assert accuracy(model, test) > 0.7


def shuffled(labels: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Labels permuted across all utterances (within a sequence would keep its class mix)."""
    flat = rng.permutation(np.concatenate(labels))
    return np.split(flat, np.cumsum([len(lab) for lab in labels])[:-1])


def test_chance_on_shuffled_labels() -> None:
    rng = np.random.default_rng(5)
    train, valid, test = sequences(60, 31), sequences(15, 32), sequences(80, 33)
    model = adam(True).fit(train[0], shuffled(train[1], rng), valid[0], shuffled(valid[1], rng))
    test_shuffled = (test[0], shuffled(test[1], rng))
    assert 0.27 < accuracy(model, test_shuffled) < 0.40  # chance 1/3, ~1000 test utterances


def test_blstm_beats_svm_when_label_is_in_the_neighbour(future_cue: dict,
                                                        blstm_future: RNNClassifier) -> None:
    train, test = future_cue["train"], future_cue["test"]
    svm = SMOClassifier().fit(np.concatenate(train[0]), np.concatenate(train[1]))
    svm_acc = np.mean(svm.predict(np.concatenate(test[0])) == np.concatenate(test[1]))
    blstm_acc = accuracy(blstm_future, test)
    assert svm_acc < 0.42
    assert blstm_acc > 0.75
    assert blstm_acc > svm_acc + 0.3


def test_lstm_sees_the_past_but_not_the_future(future_cue: dict,
                                               blstm_future: RNNClassifier) -> None:
    lstm_future = adam(False).fit(*future_cue["train"], *future_cue["valid"])
    assert accuracy(lstm_future, future_cue["test"]) < 0.42
    assert accuracy(blstm_future, future_cue["test"]) > 0.75
    past = [sequences(n, seed=s, offset=-1) for n, s in ((60, 41), (15, 42), (40, 43))]
    lstm_past = adam(False).fit(*past[0], *past[1])
    assert accuracy(lstm_past, past[2]) > 0.75


def test_same_seed_same_probabilities_other_seed_differs() -> None:
    train, valid, test = sequences(12, 51), sequences(4, 52), sequences(5, 53)
    fits = [adam(True, max_epochs=3, n_init=2, seed=s).fit(*train, *valid) for s in (7, 7, 8)]
    probas = [np.concatenate(m.predict_proba(test[0])) for m in fits]
    np.testing.assert_array_equal(probas[0], probas[1])
    assert fits[0].history_ == fits[1].history_
    assert not np.allclose(probas[0], probas[2])
    np.testing.assert_allclose(probas[0].sum(axis=1), 1.0, rtol=1e-5)


def test_early_stopping_restores_the_best_epoch(blstm_future: RNNClassifier,
                                                future_cue: dict) -> None:
    model = blstm_future
    losses = [h["valid_loss"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmin(losses)) + 1
    # stopped by patience or by max_epochs
    assert len(losses) == model.max_epochs or len(losses) - model.best_epoch_ == model.patience
    valid_x, valid_y = future_cue["valid"]
    proba = np.concatenate(model.predict_proba(valid_x))
    loss = -np.mean(np.log(proba[np.arange(len(proba)), np.concatenate(valid_y)]))
    assert loss == pytest.approx(losses[model.best_epoch_ - 1], rel=1e-4)


def test_n_init_keeps_the_best_initialisation() -> None:
    train, valid = sequences(20, 61), sequences(5, 62)
    model = adam(False, max_epochs=4, n_init=3, monitor="uar").fit(*train, *valid)
    assert len(model.init_scores_) == 3
    assert model.best_init_ == int(np.argmax(model.init_scores_))
    assert max(h["valid_uar"] for h in model.history_) == max(model.init_scores_)


def test_inputs_are_z_normalised_inside() -> None:
    train, valid, test = sequences(12, 71), sequences(4, 72), sequences(5, 73)
    a = adam(True, max_epochs=3).fit(*train, *valid)
    assert np.allclose(a.mean_, np.concatenate(train[0]).mean(axis=0))
    scaled = ([x / 1000.0 for x in train[0]], train[1])
    b = adam(True, max_epochs=3).fit(*scaled, [x / 1000.0 for x in valid[0]], valid[1])
    pa = np.concatenate(a.predict_proba(test[0]))
    pb = np.concatenate(b.predict_proba([x / 1000.0 for x in test[0]]))
    np.testing.assert_allclose(pa, pb, atol=1e-3)


def test_save_load_round_trip(tmp_path: Path, blstm_future: RNNClassifier,
                              future_cue: dict) -> None:
    path = tmp_path / "blstm.pt"
    blstm_future.save(path)
    torch.load(path, weights_only=True)  # tensors and strings only, no pickled objects
    loaded = RNNClassifier.load(path)
    assert loaded.get_params() == blstm_future.get_params()
    assert loaded.history_ == blstm_future.history_
    test_x = future_cue["test"][0]
    for p, q in zip(loaded.predict_proba(test_x), blstm_future.predict_proba(test_x),
                    strict=True):
        np.testing.assert_array_equal(p, q)


def test_string_labels_and_fixed_classes() -> None:
    train, valid = sequences(8, 81), sequences(3, 82)
    names = np.array(["high", "low", "mid", "zzz"])
    model = adam(False, max_epochs=2).fit(
        train[0], [names[y] for y in train[1]], valid[0], [names[y] for y in valid[1]],
        classes=names,
    )
    proba = model.predict_proba(valid[0])
    assert all(p.shape == (len(x), 4) for p, x in zip(proba, valid[0], strict=True))
    assert set(np.concatenate(model.predict(valid[0])).tolist()) <= set(names.tolist())


def test_without_validation_trains_max_epochs() -> None:
    train = sequences(6, 91)
    model = adam(True, max_epochs=3).fit(*train)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3] and model.best_epoch_ == 3


def test_bad_inputs_are_rejected() -> None:
    train = sequences(4, 95)
    with pytest.raises(ValueError, match="utterances but labels"):
        adam(False).fit(train[0], [lab[:-1] for lab in train[1]])
    with pytest.raises(ValueError, match="optimizer"):
        RNNClassifier(bidirectional=False, optimizer="rprop").fit(*train)
    with pytest.raises(ValueError, match="device"):
        RNNClassifier(bidirectional=False, device="tpu").fit(*train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda() -> None:
    train = sequences(4, 96)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        RNNClassifier(bidirectional=False, device="cuda").fit(*train)
    model = adam(False, max_epochs=1, device="auto").fit(*train)
    assert model.device_ == "cpu"


def test_num_threads_pins_the_result_whatever_torch_was_set_to() -> None:
    # torch's CPU products split their sums by thread: with num_threads=None this model's
    # probabilities differ between 1 and 2 threads. The estimator's own thread count makes the
    # early-stopping comparisons and the weights independent of the environment.
    train, valid = sequences(30, seed=5, d=40), sequences(8, seed=6, d=40)
    before = torch.get_num_threads()
    probas = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            model = RNNClassifier(bidirectional=True, hidden=64, optimizer="adam", lr=1e-3,
                                  max_epochs=3, patience=2, seed=0, num_threads=1)
            model.fit(*train, *valid)
            assert torch.get_num_threads() == threads  # restored after fitting
            probas.append(np.vstack(model.predict_proba(train[0])))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(probas[0], probas[1])


@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_written_out_update_rules_match_torch_optim(rule: str) -> None:
    """The training loop's SGD (with momentum) and Adam take the steps torch.optim's take."""
    from affectflow.models import rnn_optim

    def trained(make_opt) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = torch.nn.LSTM(5, 4, batch_first=True, bidirectional=True)
        opt = make_opt(net.parameters())
        data = torch.Generator().manual_seed(1)
        for _ in range(7):
            out, _ = net(torch.randn(2, 6, 5, generator=data))
            loss = (out ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.detach().clone() for p in net.parameters()]

    if rule == "sgd":
        ours = trained(lambda ps: rnn_optim.SGD(ps, lr=0.05, momentum=0.9))
        theirs = trained(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False))
    else:
        ours = trained(lambda ps: rnn_optim.Adam(ps, lr=0.05))
        theirs = trained(lambda ps: torch.optim.Adam(ps, lr=0.05, foreach=False))
    start = trained(lambda ps: rnn_optim.SGD(ps, lr=0.0))
    assert not all(torch.equal(a, b) for a, b in zip(ours, start, strict=True))  # the steps moved
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
