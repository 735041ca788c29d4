"""LSTM and BLSTM sequence labellers over a speaker's utterances (paper, section 3.2).

One sequence is the utterances of one speaker in one dialog, in time order; each utterance is
a vector of functionals (the fold's CFS-selected features) and gets its own softmax output.

- Network: one LSTM layer of ``hidden`` memory blocks with one cell each (the paper: 128);
  the bidirectional net has one such layer per direction, both feeding the output layer.
  PyTorch's LSTM cell is used (input, forget and output gates, no peephole connections,
  unlike RNNLIB's); weights are drawn uniformly from +-1/sqrt(fan), PyTorch's default scale,
  from the estimator's own generator.
- Inputs are z-normalised with the training utterances' mean and standard deviation (inside
  the estimator, so test data never leaks in); zero-mean Gaussian noise of ``noise_sigma``
  (paper: 0.6) is added to the normalised inputs during training only, fresh at every pass.
- Paper's optimiser (RNNLIB-style, the constructor's default): online gradient descent with
  one update per sequence, learning rate 1e-5, momentum 0.9, on the cross-entropy *summed*
  over the outputs of the sequence (not averaged), sequences shuffled every epoch.
  (PyTorch's momentum, ``v = 0.9 v + g; w -= lr v``, is RNNLIB's ``dw = 0.9 dw - lr g`` at a
  constant rate.)
  ``optimizer="adam"`` uses Adam (with ``lr`` as given) on the same summed loss and the same
  one-update-per-sequence schedule. ``batch_size`` (default 1: the paper's online schedule,
  computed exactly as before the parameter existed) sets how many sequences one update uses: each
  epoch's shuffle is cut into consecutive groups of ``batch_size`` (the last may be smaller), each
  group is zero-padded into one (batch, T_max, d) tensor and run with its sequences' lengths
  (unpacked, but a BLSTM's backward direction starts at each sequence's real end; padding enters
  neither the network nor the loss), and the loss is the cross-entropy summed over the group's real
  utterances divided by its number of sequences (for one sequence, the paper's summed loss). Input
  noise is still drawn per real utterance. The unit of an update is the caller's sequence
  (conversation) whatever the ``context``: with ``context="none"`` a conversation's utterances,
  each a sequence of length one, form one update (their summed loss), so the context-free network
  makes as many updates per epoch, of the same loss scale, as the BLSTM.
- ``context`` decides what of the conversation the network sees, at fit and predict time
  alike (training, validation and test sequences): ``"sequence"`` (default, the paper) each
  sequence in time order; ``"none"`` every utterance as a sequence of its own (length one), so
  with the same network, features and training only the conversational context is lost;
  ``"shuffled"`` each sequence's utterances permuted by a function of ``seed`` and the
  sequence's own feature values (so a sequence is permuted the same way when fitting and when
  predicting, wherever it stands in the list), which keeps which utterances belong together
  and breaks their order. One transformation of the inputs and labels (:class:`_ContextView`)
  does this, and the outputs are mapped back to the caller's sequences and utterance order;
  nothing else depends on ``context``.
- Early stopping on validation sequences passed in explicitly (a training speaker, never the
  test speaker): after every epoch the ``monitor`` quantity is computed on them (``"loss"``:
  mean cross-entropy per utterance, lower is better; ``"uar"``: unweighted average recall;
  ``"accuracy"``); training stops after ``patience`` epochs without improvement and the best
  epoch's weights are restored. ``n_init`` random initialisations are trained and the one with
  the best validation score is kept. Without validation data every initialisation trains for
  ``max_epochs`` and the one with the lowest final training loss is kept.
- Reproducible: the same ``seed`` gives the same weights and probabilities on CPU (own torch
  and numpy generators, deterministic algorithms switched on while fitting). On CUDA, cuDNN's
  LSTM kernels may differ in the last bits between runs.
- ``num_threads`` (default 1) sets torch's intra-op threads while fitting and predicting (and
  restores them afterwards): one update per sequence means tiny matrix products, which more
  threads only slow down (10x slower measured on a loaded 2-core machine with 2 threads). It
  also makes the result independent of the environment: torch's CPU products split their sums
  by thread (with ``num_threads=None``, validation losses differed in the 9th digit between 1
  and 2 threads), and the early-stopping epoch is a comparison of such losses. Torch computes
  with MKL/oneDNN, never OpenBLAS, so ``OPENBLAS_CORETYPE`` does not matter; the numpy steps
  (z-normalisation, the validation loss's mean) use no BLAS. On one machine the best epoch,
  weights and probabilities are thus bit-identical for every BLAS kernel and thread setting
  (``tests/test_blas_invariance.py``). Between CPU families torch's vectorised kernels
  (AVX2/AVX-512) and MKL's code paths round differently; the weights then agree only to float32
  rounding amplified by training (``ATEN_CPU_CAPABILITY=default`` and ``MKL_CBWR=COMPATIBLE``,
  set before Python starts, force one code path, slower). The validation loss is compared
  unrounded: rounding it onto a grid would not make a near-tie between two epochs less likely
  to flip (a value near a grid boundary flips instead), it would only discard real improvements
  smaller than the grid.

Defaults: the constructor's are the paper's (SGD at 1e-5, online); the workflow's config
(``models.lstm`` / ``models.blstm``) uses Adam at 3e-3 with 8 conversations per update, chosen by a
study on the validation speakers only (``benchmarks/bench_rnn_schedule.py``,
``benchmarks/rnn.md``): it stops early in every fold, at a median best epoch of at most 12, with a
validation loss as low as online Adam's at 1e-3 (within 0.013) at 2-3x less CPU time. The paper's
schedule stays selectable (``optimizer: sgd, lr: 1.0e-5, batch_size: 1``) but costs far more:
RNNLIB's summed gradients were sized for frame-level sequences, and with ~15 utterances per
sequence its updates are so small that the validation loss still falls after 300 epochs (raise
``max_epochs`` to let it converge; one epoch costs ~0.1 s of one core at demo scale, ~0.6 s at
IEMOCAP scale). ``max_epochs=100`` and ``patience=20`` bound every fit; a fit that reaches
``max_epochs`` is flagged (the job log and the result tables, :mod:`affectflow.models.fitting`).

:class:`RNNClassifier` is a scikit-learn estimator (``get_params``/``set_params``,
``sklearn.base.clone``); like every model of the workflow it scores with
:meth:`RNNClassifier.class_scores` (see :mod:`affectflow.models.scoring`). The network and its
training loop are in :mod:`affectflow.models.rnn_net`; this module holds the estimator.
"""

from __future__ import annotations

import functools
import json
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from affectflow.io import atomic_path
from affectflow.models.rnn_context import _CONTEXTS, _ContextView
from affectflow.models.rnn_net import (
    _MONITORS,
    _forward_all,
    _Net,
    _torch_settings,
    _train_one,
)

_OPTIMIZERS = ("sgd", "adam")


#: Constructor parameters in the order model files store them (files stay byte-identical).
_PARAMS: tuple[str, ...] = (
    "bidirectional", "hidden", "noise_sigma", "optimizer", "lr", "momentum", "max_epochs",
    "patience", "n_init", "monitor", "seed", "device", "num_threads", "context", "batch_size",
)
#: Parameters added after model files were first written, with the value that files without
#: them mean (the constructor's default, which ``load`` then gets). :meth:`RNNClassifier.save`
#: writes them only when they differ from it, so a model trained as before saves to the same
#: file as before (``tests/data/models``).
_LATER_PARAMS: dict[str, Any] = {"context": "sequence", "batch_size": 1}


class RNNClassifier(BaseEstimator):
    """LSTM / BLSTM utterance-sequence classifier (see the module docstring for the method).

    Fitted attributes: ``classes_``, ``mean_``/``scale_`` (input z-normalisation),
    ``n_features_in_``, ``device_`` (where it trained), ``history_`` (per-epoch records of the
    kept initialisation: ``epoch``, ``train_loss`` = mean summed-per-sequence loss,
    ``valid_loss``, ``valid_uar``, ``valid_accuracy``), ``best_epoch_``, ``best_init_``,
    ``init_scores_`` (per initialisation: its best validation ``monitor`` value, or its final
    training loss when fitted without validation data).
    """

    def __init__(
        self,
        bidirectional: bool,
        hidden: int = 128,
        noise_sigma: float = 0.6,
        optimizer: str = "sgd",
        lr: float = 1e-5,
        momentum: float = 0.9,
        max_epochs: int = 100,
        patience: int = 20,
        n_init: int = 1,
        monitor: str = "loss",
        seed: int = 0,
        device: str = "cpu",
        num_threads: int | None = 1,
        context: str = "sequence",
        batch_size: int = 1,
    ) -> None:
        self.bidirectional = bidirectional
        self.hidden = hidden
        self.noise_sigma = noise_sigma
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_init = n_init
        self.monitor = monitor
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.context = context
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], seed: int, bidirectional: bool,
                    **fixed: Any) -> RNNClassifier:
        """The estimator of config block ``models.lstm`` / ``models.blstm`` and
        ``models.seed``; ``fixed``: what the classifier fixes on top (``context`` of the
        BLSTM's ablations, :mod:`affectflow.registry`)."""
        return cls(bidirectional=bidirectional, seed=seed, **settings, **fixed)

    # ----------------------------------------------------------------------------- helpers
    def _resolve_device(self) -> torch.device:
        if self.device == "cpu":
            return torch.device("cpu")
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("device='cuda' was asked for but CUDA is not available")
            return torch.device("cuda")
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")

    def _check_params(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.monitor not in _MONITORS:
            raise ValueError(f"monitor must be one of {tuple(_MONITORS)}, got {self.monitor!r}")
        if self.hidden < 1 or self.n_init < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError("hidden, n_init, max_epochs and patience must be >= 1")
        if self.context not in _CONTEXTS:
            raise ValueError(f"context must be one of {_CONTEXTS}, got {self.context!r}")
        if (not isinstance(self.batch_size, numbers.Integral)
                or isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")

    def _encode(self, labels: Sequence[np.ndarray], seqs: Sequence[np.ndarray],
                what: str) -> list[np.ndarray]:
        if len(labels) != len(seqs):
            raise ValueError(f"{what}: {len(seqs)} sequences but {len(labels)} label arrays")
        out = []
        for k, (x, lab) in enumerate(zip(seqs, labels, strict=True)):
            lab = np.asarray(lab)
            if lab.shape != (len(x),):
                raise ValueError(f"{what}[{k}]: {len(x)} utterances but labels {lab.shape}")
            idx = np.searchsorted(self.classes_, lab)
            idx = np.clip(idx, 0, len(self.classes_) - 1)
            if not np.array_equal(self.classes_[idx], lab):
                raise ValueError(f"{what}[{k}]: labels outside the classes {self.classes_}")
            out.append(idx.astype(np.int64))
        return out

    def _check_seqs(self, seqs: Sequence[np.ndarray], what: str, d: int | None) -> list:
        out = []
        for k, x in enumerate(seqs):
            x = np.asarray(x, dtype=np.float64)
            if x.ndim != 2 or len(x) == 0 or (d is not None and x.shape[1] != d):
                raise ValueError(f"{what}[{k}]: expected a non-empty (n_utts, {d}) array, "
                                 f"got {x.shape}")
            if not np.isfinite(x).all():
                raise ValueError(f"{what}[{k}]: NaN or infinite features")
            out.append(x)
        return out

    def _view(self, seqs: Sequence[np.ndarray]) -> _ContextView:
        """The sequences the network sees of ``seqs`` (see ``context``)."""
        return _ContextView.of(seqs, self.context, self.seed)

    def _to_tensors(self, seqs: Sequence[np.ndarray], dev: torch.device) -> list[torch.Tensor]:
        return [
            torch.as_tensor((x - self.mean_) / self.scale_, dtype=torch.float32, device=dev)
            for x in seqs
        ]

    # --------------------------------------------------------------------------------- fit
    def fit(
        self,
        seqs: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        valid_seqs: Sequence[np.ndarray] | None = None,
        valid_labels: Sequence[np.ndarray] | None = None,
        *,
        classes: Sequence[Any] | None = None,
    ) -> RNNClassifier:
        """Train on sequences (n_utts x d arrays) with one label per utterance.

        ``classes`` fixes the label set and its column order in ``predict_proba`` (default:
        the sorted labels seen in training).
        """
        self._check_params()
        seqs = self._check_seqs(seqs, "seqs", None)
        if not seqs:
            raise ValueError("no training sequences")
        d = seqs[0].shape[1]
        seqs = self._check_seqs(seqs, "seqs", d)
        has_valid = valid_seqs is not None and len(valid_seqs) > 0
        if has_valid:
            if valid_labels is None:
                raise ValueError("valid_seqs given without valid_labels")
            valid_seqs = self._check_seqs(valid_seqs, "valid_seqs", d)
        all_y = np.concatenate([np.asarray(lab) for lab in labels]) if labels else []
        self.classes_ = np.unique(all_y) if classes is None else np.asarray(classes)
        if classes is not None and len(np.unique(self.classes_)) != len(self.classes_):
            raise ValueError("classes must be distinct")
        if classes is not None and not np.all(self.classes_[:-1] <= self.classes_[1:]):
            raise ValueError("classes must be sorted")
        ys = self._encode(labels, seqs, "labels")
        valid_ys = self._encode(valid_labels, valid_seqs, "valid_labels") if has_valid else []

        stacked = np.concatenate(seqs)
        self.n_features_in_ = d
        self.mean_ = stacked.mean(axis=0)
        std = stacked.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        dev = self._resolve_device()
        self.device_ = str(dev)
        view = self._view(seqs)
        xs = self._to_tensors(view.take(seqs), dev)
        ts = [torch.as_tensor(y, device=dev) for y in view.take(ys)]
        vxs: list[torch.Tensor] = []
        if has_valid:
            valid_view = self._view(valid_seqs)
            vxs = self._to_tensors(valid_view.take(valid_seqs), dev)
            valid_ys = valid_view.take(valid_ys)

        # without validation data the initialisations compete on their final training loss
        sign = _MONITORS[self.monitor] if has_valid else -1.0
        best: tuple[float, int, dict, list, int] | None = None
        self.init_scores_ = []
        seeds = np.random.SeedSequence(self.seed).spawn(self.n_init)
        with _torch_settings(dev.type == "cpu", self.num_threads):
            for k, ss in enumerate(seeds):
                torch_seed, np_seed = (int(v) for v in ss.generate_state(2, dtype=np.uint32))
                state, history, best_epoch, score = self._fit_one(
                    d, xs, ts, vxs, valid_ys, dev, torch_seed, np_seed, has_valid, view.groups
                )
                self.init_scores_.append(score)
                if best is None or sign * score > sign * best[0]:
                    best = (score, k, state, history, best_epoch)
        assert best is not None
        _, self.best_init_, state, self.history_, self.best_epoch_ = best
        self.net_ = self._new_net(d, dev)
        self.net_.load_state_dict(state)
        self.net_.eval()
        return self

    def _new_net(self, d: int, dev: torch.device) -> _Net:
        return _Net(d, self.hidden, len(self.classes_), self.bidirectional).to(dev)

    def _fit_one(self, d: int, xs: list[torch.Tensor], ts: list[torch.Tensor],
                 vxs: list[torch.Tensor], vys: list[np.ndarray], dev: torch.device,
                 torch_seed: int, np_seed: int, has_valid: bool, groups: list[list[int]]
                 ) -> tuple[dict, list[dict], int, float]:
        """Train one initialisation; returns (best state, history, best epoch, score)."""
        return _train_one(
            functools.partial(self._new_net, d), xs, ts, vxs, vys, dev, torch_seed, np_seed,
            has_valid, optimizer=self.optimizer, lr=self.lr, momentum=self.momentum,
            noise_sigma=self.noise_sigma, max_epochs=self.max_epochs, patience=self.patience,
            monitor=self.monitor, batch_size=int(self.batch_size), groups=groups,
        )

    # ---------------------------------------------------------------------------- predict
    def predict_proba(self, seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Softmax outputs per sequence: a list of (n_utts x n_classes) arrays, in the order of
        ``seqs`` and of their utterances (whatever order ``context`` showed the network)."""
        seqs = self._check_seqs(seqs, "seqs", self.n_features_in_)
        dev = next(self.net_.parameters()).device
        view = self._view(seqs)
        xs = self._to_tensors(view.take(seqs), dev)
        self.net_.eval()
        with _torch_settings(False, self.num_threads):
            logps = _forward_all(self.net_, xs)
        return view.restore([lp.exp().cpu().double().numpy() for lp in logps])

    def predict(self, seqs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Most probable class of every utterance, per sequence."""
        return [self.classes_[p.argmax(axis=1)] for p in self.predict_proba(seqs)]

    def class_scores(self, seqs: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
        """:meth:`predict_proba` of every utterance, stacked in sequence order, on the columns
        ``0 .. n_classes - 1`` (labels are class ids; a class outside ``classes_`` scores 0)."""
        out = np.zeros((sum(len(x) for x in seqs), n_classes), dtype=np.float64)
        if len(out):
            out[:, np.asarray(self.classes_, dtype=np.int64)] = np.vstack(
                self.predict_proba(seqs)
            )
        return out

    # ------------------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> None:
        """One file: tensors (state dict, normalisation) and a JSON string of the rest.

        Loadable with ``torch.load(weights_only=True)``: no pickled Python objects.
        """
        meta = {
            "kind": "RNNClassifier",
            "params": {name: getattr(self, name) for name in _PARAMS
                       if name not in _LATER_PARAMS
                       or getattr(self, name) != _LATER_PARAMS[name]},
            "classes": self.classes_.tolist(),
            "n_features_in": self.n_features_in_,
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "best_init": self.best_init_,
            "init_scores": self.init_scores_,
        }
        blob = {
            "meta": json.dumps(meta),
            "state_dict": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()},
            "mean": torch.as_tensor(self.mean_),
            "scale": torch.as_tensor(self.scale_),
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> RNNClassifier:
        """Read a model written by :meth:`save` (on ``device``, default the saved one,
        falling back to CPU when CUDA is absent)."""
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        if meta.get("kind") != "RNNClassifier":
            raise ValueError(f"{path}: not an RNNClassifier model")
        params = dict(meta["params"])
        if device is not None:
            params["device"] = device
        elif params["device"] == "cuda" and not torch.cuda.is_available():
            params["device"] = "cpu"
        model = cls(**params)
        model.classes_ = np.asarray(meta["classes"])
        model.n_features_in_ = int(meta["n_features_in"])
        model.mean_ = blob["mean"].numpy()
        model.scale_ = blob["scale"].numpy()
        model.history_ = meta["history"]
        model.best_epoch_ = meta["best_epoch"]
        model.best_init_ = meta["best_init"]
        model.init_scores_ = meta["init_scores"]
        dev = model._resolve_device()
        model.device_ = str(dev)
        model.net_ = model._new_net(model.n_features_in_, dev)
        model.net_.load_state_dict(blob["state_dict"])
        model.net_.eval()
        return model
