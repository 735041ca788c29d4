"""RNNClassifier's ``context`` (what of the conversation the network sees) and ``batch_size``
(sequences per update): small networks, a few epochs, Adam so that a few epochs move them."""

from __future__ import annotations

import copy
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from affectflow.models.rnn import RNNClassifier
from affectflow.models.rnn_net import _batch_loss, _Net

K = 3
D = 5


def data(n_seq: int, seed: int, lo: int = 4, hi: int = 10
         ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sequences whose label of utterance t shows in its own features and in those of t+1."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0.0, 1.5, (K, D))
    seqs, labels = [], []
    for _ in range(n_seq):
        T = int(rng.integers(lo, hi + 1))
        y = rng.integers(0, K, T)
        X = rng.normal(0.0, 1.0, (T, D)) + centres[y] + 0.5 * centres[np.roll(y, -1)]
        seqs.append(X * 3.0 + 10.0)
        labels.append(y)
    return seqs, labels


TRAIN, VALID, TEST = data(10, 1), data(4, 2), data(5, 3)


def model(**kw: object) -> RNNClassifier:
    params = {"bidirectional": True, "hidden": 6, "optimizer": "adam", "lr": 1e-2,
              "max_epochs": 4, "patience": 3, "seed": 0}
    params.update(kw)
    return RNNClassifier(**params)


@pytest.fixture(scope="module")
def fitted() -> dict[str, RNNClassifier]:
    return {c: model(context=c).fit(*TRAIN, *VALID) for c in ("sequence", "none", "shuffled")}


def test_only_context_models_see_the_other_utterances(fitted: dict) -> None:
    x = TEST[0][0]
    n = len(x)
    for t in (0, n // 2, n - 1):
        others = [i for i in range(n) if i != t]
        reordered = np.array(others[::-1])
        order = np.insert(reordered, t, t)  # t stays in place, the others are reversed
        assert not np.array_equal(order, np.arange(n))
        for context, sees_others in (("sequence", True), ("none", False)):
            m = fitted[context]
            a = m.predict_proba([x])[0][t]
            b = m.predict_proba([x[order]])[0][t]
            if sees_others:
                assert np.abs(a - b).max() > 1e-4
            else:
                np.testing.assert_array_equal(a, b)


def test_no_context_is_each_utterance_alone_in_the_original_layout(fitted: dict) -> None:
    m = fitted["none"]
    proba = m.predict_proba(TEST[0])
    assert [p.shape for p in proba] == [(len(x), K) for x in TEST[0]]
    for x, p in zip(TEST[0], proba, strict=True):
        alone = np.vstack([m.predict_proba([x[t:t + 1]])[0] for t in range(len(x))])
        np.testing.assert_allclose(p, alone, rtol=1e-6, atol=1e-9)
    scores = m.class_scores(TEST[0], K)
    np.testing.assert_array_equal(scores, np.vstack(proba))
    # every utterance alone, in the original order
    each = np.vstack([m.predict_proba([x[t:t + 1]])[0] for x in TEST[0] for t in range(len(x))])
    np.testing.assert_allclose(scores, each, rtol=1e-6, atol=1e-9)
    # the same network without context differs from one trained on the conversations
    assert not np.allclose(scores, fitted["sequence"].class_scores(TEST[0], K), atol=1e-4)


def documented_permutation(x: np.ndarray, seed: int) -> np.ndarray:
    """The permutation the module docstring documents for ``context="shuffled"``."""
    crc = zlib.crc32(np.asarray(x, dtype=np.float64).tobytes())
    return np.random.default_rng([seed, crc]).permutation(len(x))


def test_shuffled_context_is_deterministic_and_in_the_original_order(fitted: dict) -> None:
    m = fitted["shuffled"]
    twin = model(context="shuffled").fit(*TRAIN, *VALID)
    assert twin.history_ == m.history_
    proba = m.predict_proba(TEST[0])
    for p, q in zip(proba, twin.predict_proba(TEST[0]), strict=True):
        np.testing.assert_array_equal(p, q)
    # the same sequence gets the same permutation wherever it stands in the list
    for k in (0, 3):
        np.testing.assert_allclose(m.predict_proba([TEST[0][k]])[0], proba[k],
                                   rtol=1e-6, atol=1e-9)
    rev = m.predict_proba(TEST[0][::-1])[::-1]
    for p, q in zip(proba, rev, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-9)
    # outputs come back in the original order: the same network reading the permuted sequence
    in_order = copy.deepcopy(m).set_params(context="sequence")
    perms = [documented_permutation(x, m.seed) for x in TEST[0]]
    assert all(not np.array_equal(perm, np.arange(len(perm))) for perm in perms)
    seen = in_order.predict_proba([x[perm] for x, perm in zip(TEST[0], perms, strict=True)])
    for p, perm, q in zip(proba, perms, seen, strict=True):
        np.testing.assert_array_equal(p[perm], q)
    assert not np.allclose(np.vstack(proba), in_order.class_scores(TEST[0], K), atol=1e-4)


def test_shuffled_context_permutes_at_fit_as_at_predict() -> None:
    """Fitting with context="shuffled" is fitting the in-order model on the documented
    permutation of every training sequence (with its labels)."""
    seed = 4
    perms = [documented_permutation(x, seed) for x in TRAIN[0]]
    pre = ([x[p] for x, p in zip(TRAIN[0], perms, strict=True)],
           [y[p] for y, p in zip(TRAIN[1], perms, strict=True)])
    shuffled = model(context="shuffled", seed=seed, max_epochs=3).fit(*TRAIN)
    in_order = model(seed=seed, max_epochs=3).fit(*pre)
    np.testing.assert_allclose([h["train_loss"] for h in shuffled.history_],
                               [h["train_loss"] for h in in_order.history_], rtol=1e-5)
    for x, p in zip(TRAIN[0], shuffled.predict_proba(TRAIN[0]), strict=True):
        perm = documented_permutation(x, seed)
        np.testing.assert_allclose(p[perm], in_order.predict_proba([x[perm]])[0],
                                   rtol=1e-4, atol=1e-6)


def test_batch_size_one_is_the_default_exactly() -> None:
    kw = {"optimizer": "sgd", "lr": 1e-3, "noise_sigma": 0.6, "n_init": 2, "max_epochs": 3}
    a = model(**kw).fit(*TRAIN, *VALID)
    b = model(batch_size=1, **kw).fit(*TRAIN, *VALID)
    assert a.history_ == b.history_
    assert (a.best_epoch_, a.best_init_, a.init_scores_) == (b.best_epoch_, b.best_init_,
                                                            b.init_scores_)
    for key, value in a.net_.state_dict().items():
        assert torch.equal(value, b.net_.state_dict()[key])
    np.testing.assert_array_equal(a.class_scores(TEST[0], K), b.class_scores(TEST[0], K))


def test_padding_does_not_leak_into_a_bidirectional_batch() -> None:
    torch.manual_seed(0)
    net = _Net(D, 5, K, bidirectional=True)
    net.init_weights(torch.Generator().manual_seed(1))
    xs = [torch.randn(n, D) for n in (3, 7, 1, 5)]
    ts = [torch.randint(0, K, (n,)) for n in (3, 7, 1, 5)]
    lengths = torch.tensor([len(x) for x in xs])
    padded = torch.full((len(xs), 7, D), 1e3)  # garbage where there is no utterance
    for i, x in enumerate(xs):
        padded[i, : len(x)] = x
    with torch.no_grad():
        batched = net(padded, lengths)
        for i, x in enumerate(xs):
            alone = net(x.unsqueeze(0))[0]
            torch.testing.assert_close(batched[i, : len(x)], alone, rtol=1e-5, atol=1e-6)
    # the batch loss: summed cross-entropy over the real utterances per sequence
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    with torch.no_grad():
        each = [float(_batch_loss(net, loss_fn, [x], [t], 1))
                for x, t in zip(xs, ts, strict=True)]
        together = float(_batch_loss(net, loss_fn, xs, ts, len(xs)))
    assert together == pytest.approx(sum(each) / len(xs), rel=1e-5)
    # sequences of one length (a conversation cut into utterances) run unpacked, same loss
    ones = [torch.randn(1, D) for _ in range(4)]
    one_ts = [torch.randint(0, K, (1,)) for _ in range(4)]
    with torch.no_grad():
        each = [float(_batch_loss(net, loss_fn, [x], [t], 1))
                for x, t in zip(ones, one_ts, strict=True)]
        together = float(_batch_loss(net, loss_fn, ones, one_ts, 1))
    assert together == pytest.approx(sum(each), rel=1e-5)


def test_no_context_updates_once_per_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    """blstm_vf_noctx differs from blstm_vf by context only: the same number of updates per
    epoch (one per conversation, its utterances together), each on a conversation's summed
    loss."""
    from affectflow.models import rnn_net

    calls: list[tuple[int, int]] = []
    original = rnn_net._batch_loss

    def spy(net, loss_fn, xs, ts, n_groups):  # noqa: ANN001, ANN202
        if torch.is_grad_enabled():
            calls.append((len(xs), n_groups))
        return original(net, loss_fn, xs, ts, n_groups)

    monkeypatch.setattr(rnn_net, "_batch_loss", spy)
    seqs, labels = TRAIN
    sizes = sorted(len(x) for x in seqs)
    for context in ("sequence", "none"):
        calls.clear()
        model(context=context, max_epochs=2).fit(seqs, labels)
        assert len(calls) == 2 * len(seqs)  # one update per conversation and epoch
        assert all(n == 1 for _, n in calls)
        pieces = sorted(k for k, _ in calls[: len(seqs)])
        assert pieces == ([1] * len(seqs) if context == "sequence" else sizes)
    calls.clear()
    model(context="none", max_epochs=1, batch_size=3).fit(seqs, labels)
    assert [n for _, n in calls] == [3, 3, 3, 1]  # 10 conversations, 3 per update


def test_batches_train_and_differ_from_online_updates() -> None:
    batched = model(batch_size=4, max_epochs=12, noise_sigma=0.0).fit(*TRAIN)
    losses = [h["train_loss"] for h in batched.history_]
    assert len(losses) == 12
    assert losses[-1] < 0.8 * losses[0]
    online = model(max_epochs=12, noise_sigma=0.0).fit(*TRAIN)
    assert [h["train_loss"] for h in online.history_] != losses
    # with validation: early stopping and the best epoch as with online updates
    stopped = model(batch_size=3, max_epochs=6, patience=2).fit(*TRAIN, *VALID)
    best = int(np.argmin([h["valid_loss"] for h in stopped.history_])) + 1
    assert stopped.best_epoch_ == best


def test_save_load_and_clone_keep_context_and_batch_size(tmp_path: Path) -> None:
    m = model(context="shuffled", batch_size=3, max_epochs=2).fit(*TRAIN, *VALID)
    m.save(tmp_path / "m.pt")
    loaded = RNNClassifier.load(tmp_path / "m.pt")
    assert (loaded.context, loaded.batch_size) == ("shuffled", 3)
    assert loaded.get_params() == m.get_params()
    for p, q in zip(loaded.predict_proba(TEST[0]), m.predict_proba(TEST[0]), strict=True):
        np.testing.assert_array_equal(p, q)
    twin = clone(m)
    assert twin.get_params() == m.get_params() and not hasattr(twin, "net_")
    twin.fit(*TRAIN, *VALID)
    np.testing.assert_array_equal(twin.class_scores(TEST[0], K), m.class_scores(TEST[0], K))
    # a model at the defaults writes the file it wrote before the parameters existed (no
    # context / batch_size in it) and loads with the defaults
    plain = model(max_epochs=1).fit(*TRAIN)
    plain.save(tmp_path / "plain.pt")
    meta = torch.load(tmp_path / "plain.pt", weights_only=True)["meta"]
    assert '"context"' not in meta and '"batch_size"' not in meta
    back = RNNClassifier.load(tmp_path / "plain.pt")
    assert (back.context, back.batch_size) == ("sequence", 1)


@pytest.mark.parametrize(("kw", "match"), [({"context": "reversed"}, "context"),
                                           ({"batch_size": 0}, "batch_size"),
                                           ({"batch_size": 2.0}, "batch_size")])
def test_bad_context_or_batch_size_is_rejected(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        model(**kw).fit(*TRAIN)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_unpacked_padded_batches_compute_what_packing_does(bidirectional: bool) -> None:
    """Padded batches run without packing (faster on CPU): outputs and gradients at every
    real step equal those of torch's packed LSTM."""
    net = _Net(D, 5, K, bidirectional=bidirectional)
    net.init_weights(torch.Generator().manual_seed(2))
    xs = [torch.randn(n, D, generator=torch.Generator().manual_seed(n)) for n in (3, 7, 1, 5)]
    lengths = torch.tensor([len(x) for x in xs])
    padded = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
    grads = []
    outs = []
    def packed(padded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pack = torch.nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True,
                                                       enforce_sorted=False)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(net.lstm(pack)[0], batch_first=True)
        return net.out(h)

    for forward in (packed, net):
        net.zero_grad()
        out = forward(padded, lengths)
        real = torch.cat([out[i, : len(x)] for i, x in enumerate(xs)])
        real.pow(2).sum().backward()
        outs.append(real.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
