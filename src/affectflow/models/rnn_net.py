"""The torch side of :class:`affectflow.models.rnn.RNNClassifier`: the LSTM/BLSTM network,
the torch settings used while fitting and predicting, batched inference, validation scores and
the training loop of one initialisation.

Separate from the scikit-learn estimator, which validates and normalises the data, picks the
device, compares initialisations and saves/loads models; the method itself is described in the
docstring of :mod:`affectflow.models.rnn`.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from affectflow.models import rnn_optim

_MONITORS = {"loss": -1.0, "uar": 1.0, "accuracy": 1.0}  # sign: +1 = higher is better


class _Net(nn.Module):
    """LSTM (or BLSTM) layer plus a linear output layer per time step (softmax in the loss)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), n_out)

    def init_weights(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            bound = 1.0 / math.sqrt(self.lstm.hidden_size)
            for p in self.lstm.parameters():
                p.uniform_(-bound, bound, generator=gen)
            bound = 1.0 / math.sqrt(self.out.in_features)
            self.out.weight.uniform_(-bound, bound, generator=gen)
            self.out.bias.uniform_(-bound, bound, generator=gen)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (batch, T, d) -> logits (batch, T, C); ``lengths`` for zero-padded batches.

        A padded batch runs as plain padded tensors, not packed: the forward direction over
        ``x`` as it is (padding comes after every real step, so it reaches no real output), the
        backward direction over each sequence reversed within its own length and the outputs
        reversed back (:func:`_reverse_within`), so that it too starts at each sequence's real
        end. The same computation as packing (tested), and on CPU several times faster to
        differentiate than torch's packed LSTM (``benchmarks/rnn.md``).
        """
        h = self.lstm(x)[0] if lengths is None else self._padded(x, lengths)
        return self.out(h)

    def _padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The LSTM layer over a zero-padded batch, unpacked (see :meth:`forward`)."""
        zeros = x.new_zeros(1, x.shape[0], self.lstm.hidden_size)

        def direction(inputs: torch.Tensor, suffix: str) -> torch.Tensor:
            weights = [getattr(self.lstm, f"{name}_l0{suffix}") for name in
                       ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            # has_biases, num_layers, dropout, train, bidirectional, batch_first
            return torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training,
                              False, True)[0]

        h = direction(x, "")
        if not self.lstm.bidirectional:
            return h
        index = _reverse_within(lengths, x.shape[1]).to(x.device).unsqueeze(-1)

        def flip(a: torch.Tensor) -> torch.Tensor:
            return torch.gather(a, 1, index.expand_as(a))

        return torch.cat([h, flip(direction(flip(x), "_reverse"))], dim=-1)


def _reverse_within(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """(batch, total) time indices that reverse each sequence's first ``length`` steps and
    leave its padding in place (the permutation is its own inverse)."""
    t = torch.arange(total).unsqueeze(0)
    n = lengths.to(torch.long).unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)


def _set_deterministic(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms`` without its import of the TorchInductor compiler's
    config (which pulls in TorchDynamo and sympy: ~1.4 s per training job, for a compiler
    this project never runs); the public call where torch lacks the private setter."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


@contextlib.contextmanager
def _torch_settings(deterministic: bool, num_threads: int | None) -> Iterator[None]:
    """Deterministic algorithms and the intra-op thread count for the block, then restore."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    if deterministic:
        _set_deterministic(True)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if deterministic:
            _set_deterministic(previous, warn_only=previous_warn)
        if num_threads is not None:
            torch.set_num_threads(previous_threads)


def _uar(y: np.ndarray, pred: np.ndarray) -> float:
    """Unweighted average recall over the classes present in ``y``."""
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls)) if recalls else float("nan")


def _forward_all(net: _Net, xs: list[torch.Tensor], batch: int = 256) -> list[torch.Tensor]:
    """Log-probabilities for every sequence, padded batches of ``batch`` sequences."""
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(xs), batch):
            chunk = xs[start:start + batch]
            lengths = torch.tensor([len(x) for x in chunk])
            padded = nn.utils.rnn.pad_sequence(chunk, batch_first=True)
            logp = torch.log_softmax(net(padded, lengths), dim=-1)
            out.extend(logp[i, : int(n)] for i, n in enumerate(lengths))
    return out


def _evaluate(net: _Net, xs: list[torch.Tensor], ys: list[np.ndarray]) -> dict:
    """Validation loss (mean per utterance), UAR and accuracy of ``net`` on ``xs``, ``ys``."""
    logps = _forward_all(net, xs)
    y = np.concatenate(ys)
    logp = torch.cat(logps).cpu().double().numpy()
    pred = logp.argmax(axis=1)
    return {
        "valid_loss": float(-logp[np.arange(len(y)), y].mean()),
        "valid_uar": _uar(y, pred),
        "valid_accuracy": float(np.mean(pred == y)),
    }


def _batch_loss(net: _Net, loss_fn: nn.CrossEntropyLoss, xs: list[torch.Tensor],
                ts: list[torch.Tensor], n_groups: int) -> torch.Tensor:
    """Cross-entropy (``loss_fn`` sums) over the real utterances of the sequences ``xs``,
    divided by ``n_groups``, the number of caller's sequences (conversations) they come from:
    for one conversation its summed loss, the paper's, whatever the context made of it.

    One sequence runs unpadded (the online schedule's computation, bit for bit); several of
    one length (e.g. a conversation's utterances as sequences of length one, ``context="none"``)
    run as one (batch, T, d) tensor; several of different lengths are zero-padded to T_max and
    run with their lengths (unpacked, :meth:`_Net.forward`), so each direction of a BLSTM runs
    over a sequence's real utterances only (the backward one starts at its real end) and
    padding enters neither the recurrence nor the loss.
    """
    if len(xs) == 1:
        return loss_fn(net(xs[0].unsqueeze(0))[0], ts[0]) / n_groups
    lengths = torch.tensor([len(x) for x in xs])
    if bool((lengths == lengths[0]).all()):
        logits = net(torch.stack(xs))
        return loss_fn(logits.reshape(-1, logits.shape[-1]), torch.cat(ts)) / n_groups
    logits = net(nn.utils.rnn.pad_sequence(xs, batch_first=True), lengths)
    real = torch.cat([logits[i, : len(x)] for i, x in enumerate(xs)])
    return loss_fn(real, torch.cat(ts)) / n_groups


def _train_one(
    new_net: Callable[[torch.device], _Net], xs: list[torch.Tensor], ts: list[torch.Tensor],
    vxs: list[torch.Tensor], vys: list[np.ndarray], dev: torch.device, torch_seed: int,
    np_seed: int, has_valid: bool, *, optimizer: str, lr: float, momentum: float,
    noise_sigma: float, max_epochs: int, patience: int, monitor: str, batch_size: int = 1,
    groups: list[list[int]] | None = None,
) -> tuple[dict, list[dict], int, float]:
    """Train one initialisation; returns (best state, history, best epoch, score).

    ``groups``: the sequences of ``xs`` that form one conversation (default: each sequence its
    own). Every epoch shuffles the conversations and makes one update per ``batch_size``
    consecutive ones of the shuffle (:func:`_batch_loss`; the last update may have fewer), so
    a context that cuts conversations into pieces still updates once per conversation, like
    the BLSTM. ``train_loss`` is the epoch's mean summed-per-conversation loss whatever the
    batch size.
    """
    groups = [[s] for s in range(len(xs))] if groups is None else groups
    gen = torch.Generator(device="cpu").manual_seed(torch_seed)
    noise_gen = torch.Generator(device=dev).manual_seed(torch_seed + 1)
    rng = np.random.default_rng(np_seed)
    net = new_net(torch.device("cpu"))
    net.init_weights(gen)
    net.to(dev)
    opt: rnn_optim.SGD | rnn_optim.Adam
    if optimizer == "sgd":
        opt = rnn_optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    else:
        opt = rnn_optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    sign = _MONITORS[monitor]
    key = f"valid_{monitor}"
    history: list[dict] = []
    best_score, best_epoch = -math.inf, 0
    best_state = copy.deepcopy(net.state_dict()) if has_valid else {}
    for epoch in range(1, max_epochs + 1):
        net.train()
        total = 0.0
        order = rng.permutation(len(groups))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            members = [s for g in chosen for s in groups[g]]
            batch = []
            for s in members:  # noise per real utterance, in the order of the shuffle
                x = xs[s]
                if noise_sigma > 0:
                    noise = torch.randn(x.shape, generator=noise_gen, device=dev)
                    x = x + noise_sigma * noise
                batch.append(x)
            loss = _batch_loss(net, loss_fn, batch, [ts[s] for s in members], len(chosen))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(chosen)  # back to the sum over conversations
        record: dict[str, float] = {"epoch": epoch, "train_loss": total / len(groups)}
        net.eval()
        history.append(record)
        if not has_valid:
            if not math.isfinite(record["train_loss"]):
                break
            continue
        record.update(_evaluate(net, vxs, vys))
        score = sign * record[key]
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= patience or not math.isfinite(record["train_loss"]):
            break
    if not has_valid:  # no early stopping: keep the last epoch
        return (copy.deepcopy(net.state_dict()), history, int(history[-1]["epoch"]),
                float(history[-1]["train_loss"]))
    if best_epoch == 0:
        raise RuntimeError("the validation score was never finite (training diverged?)")
    return best_state, history, int(best_epoch), float(sign * best_score)
