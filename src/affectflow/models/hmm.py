"""Per-class ergodic Gaussian HMMs (paper section 3.3), trained by batched Baum-Welch.

The paper trains one fully connected 3-state HMM per class with HTK and recognises the class of
highest likelihood. hmmlearn runs the forward-backward recursion one sequence at a time, which is
too slow at IEMOCAP scale (~0.8 M frames per fold, 9 model groups). Here all sequences of a model
are packed time-major, longest first (rows of one time step are contiguous and the sequences still
running are a prefix of the previous step's), so every time step is a single batched operation over
all sequences, and the emission densities of all frames are computed dimension by dimension over
blocks of frames. The recursion is the scaled one in probability space (float64); start and
transition probabilities are floored so that no scale factor can become zero. hmmlearn stays the
reference: ``tests/test_hmm.py`` checks that both reach the same log-likelihood from the same
parameters.

No BLAS: every sum runs in an order fixed by this code (numpy element-wise operations, numpy
reductions and ``np.einsum``, which never calls BLAS), so a model and its scores are
bit-identical under every BLAS kernel and thread count. The earlier matrix products made the
number of Baum-Welch iterations (a convergence test) and the scores depend on the kernel; worse,
the emissions came from the expanded form ``x^2/v - 2 x m/v + m^2/v`` summed in float32, whose
cancellation (face coordinates in mm, dimensions with floored variances) put errors of whole
nats into the log-likelihoods: the tiny corpus's fold Ses01F gave HMM log-likelihoods differing
by up to 148 nats between the Prescott and Haswell kernels (88 between 1 and 2 threads), and
``tests/test_hmm.py`` measured errors of 700 nats on offset float32 frames. Emissions are now
``(x - m)^2 / v`` from explicit differences in float64 (measured at 340k frames x 118 dims:
fitting no slower than with the product, scoring about 1.3x its time).
The transcendental functions (``exp``, ``log``) are numpy's, which may differ in the last bit
between CPU families (SIMD code paths), not between BLAS kernels or thread counts.

This module holds the estimators (:class:`GaussianHMM`, :class:`HMMClassifier`), the M step and
batched scoring; the packed forward-backward numerics are in :mod:`affectflow.models.hmm_em`
and the initialisation in :mod:`affectflow.models.hmm_init`. The helpers used from there stay
importable from here (``benchmarks/bench_hmm.py`` uses ``hmm._pack``, ``hmm._forward``, ...).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from affectflow.errors import AffectflowError
from affectflow.io import atomic_path
from affectflow.models.hmm_em import (
    _accumulate,
    _as_frames,
    _estep,
    _forward,
    _frame_var,
    _log_gauss,
    _pack,
    _packed_frames,
    _seq_sums,
    _state_loglik,
)
from affectflow.models.hmm_init import _initial_params

_MAX_SCORE_FRAMES = 1 << 17  # frames scored per batch in HMMClassifier.loglik
_PROB_FLOOR = 1e-20  # start/transition floor: every forward scale factor stays > 0
_MIN_VAR = 1e-10  # absolute floor under the relative one (dimensions constant in all data)
_MIN_OCC = 2.0  # states/components with fewer expected frames keep their previous parameters
_WEIGHT_FLOOR = 1e-5  # mixture weight floor (HTK's MINMIX)
_INITS = ("kmeans", "segment")


def _normalise(p: np.ndarray) -> np.ndarray:
    """Floor at ``_PROB_FLOOR`` and normalise along the last axis."""
    p = np.maximum(p, _PROB_FLOOR)
    return p / p.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Estimators


class GaussianHMM(BaseEstimator):
    """Fully connected HMM with diagonal Gaussian (mixture) emissions, trained by Baum-Welch.

    Variances are floored at ``var_floor`` times the global variance of each dimension (HTK's
    ``-f`` convention; the reference variance is the fitting data's unless ``ref_var`` is given).
    Training stops after ``n_iter`` iterations or when the total log-likelihood per frame improves
    by less than ``tol``. A state or mixture component with fewer than 2 expected frames keeps its
    previous parameters instead of collapsing onto a few frames.

    Fitted attributes: ``startprob_`` (K,), ``transmat_`` (K, K), ``means_`` and ``covars_``
    (K, M, D), ``weights_`` (K, M), ``var_floor_`` (D,), ``history_`` (total log-likelihood of the
    parameters entering each iteration, as hmmlearn's ``monitor_.history``), ``n_iter_``,
    ``converged_``.
    """

    def __init__(
        self,
        n_states: int = 3,
        n_mix: int = 1,
        n_iter: int = 20,
        tol: float = 1e-3,
        var_floor: float = 1e-3,
        init: str = "kmeans",
        seed: int = 0,
    ) -> None:
        self.n_states = n_states
        self.n_mix = n_mix
        self.n_iter = n_iter
        self.tol = tol
        self.var_floor = var_floor
        self.init = init
        self.seed = seed

    def _check_hyper(self) -> None:
        if self.n_states < 1 or self.n_mix < 1 or self.n_iter < 0:
            raise AffectflowError(
                f"HMM: n_states, n_mix must be >= 1 and n_iter >= 0 (got {self.n_states}, "
                f"{self.n_mix}, {self.n_iter})"
            )
        if self.var_floor < 0:
            raise AffectflowError(f"HMM: var_floor must be >= 0 (got {self.var_floor})")
        if self.init not in _INITS:
            raise AffectflowError(f"HMM: init must be one of {_INITS} (got {self.init!r})")

    def fit(
        self,
        seqs: Sequence[np.ndarray],
        ref_var: np.ndarray | None = None,
        init_params: Mapping[str, np.ndarray] | None = None,
    ) -> GaussianHMM:
        """Train on ``seqs`` (one frames x dims array per utterance).

        ``ref_var``: variance the floor is relative to (default: of ``seqs``). ``init_params``:
        explicit initial ``startprob``, ``transmat``, ``means``, ``covars`` (and ``weights``); the
        means/covars may be (K, D) when ``n_mix == 1``. Otherwise ``init`` decides.
        """
        self._check_hyper()
        X, lengths = _as_frames(seqs)
        n, d = X.shape
        k, m = self.n_states, self.n_mix
        if n < k * m:
            raise AffectflowError(
                f"HMM: {n} frames cannot train {k} states x {m} Gaussians; need at least {k * m}"
            )
        ref = _frame_var(X) if ref_var is None else np.asarray(ref_var, dtype=np.float64)
        if ref.shape != (d,):
            raise AffectflowError(f"HMM: ref_var has shape {ref.shape}; expected ({d},)")
        floor = np.maximum(self.var_floor * ref, _MIN_VAR)
        if init_params is None:
            params = _initial_params(X, lengths, k, m, self.init, floor, self.seed)
        else:
            params = self._given_params(init_params, d)
        pk = _pack(lengths)
        xt = _packed_frames(X, pk.src)  # packed order from here on
        del X
        history: list[float] = []
        converged = False
        prev = params
        for it in range(self.n_iter):
            logn = _log_gauss(xt, params["means"].reshape(-1, d), params["covars"].reshape(-1, d))
            logb, resp = _state_loglik(logn.reshape(n, k, m), np.log(params["weights"]))
            total, gamma, start, xi = _estep(logb, pk, params["startprob"], params["transmat"])
            if not np.isfinite(total):
                if it == 0:
                    raise AffectflowError(
                        "HMM: the initial parameters give a non-finite log-likelihood "
                        "(degenerate model; check the features' scale)"
                    )
                warnings.warn(
                    f"HMM: non-finite log-likelihood at iteration {it}; keeping the parameters "
                    "of the previous iteration",
                    RuntimeWarning,
                    stacklevel=2,
                )
                params = prev
                break
            history.append(total)
            prev, params = params, self._mstep(xt, params, gamma, resp, start, xi, floor)
            if len(history) >= 2 and (history[-1] - history[-2]) / n < self.tol:
                converged = True
                break
        self.startprob_ = params["startprob"]
        self.transmat_ = params["transmat"]
        self.means_ = params["means"]
        self.covars_ = params["covars"]
        self.weights_ = params["weights"]
        self.var_floor_ = floor
        self.history_ = history
        self.n_iter_ = len(history)
        self.converged_ = converged
        return self

    def _given_params(self, init: Mapping[str, np.ndarray], d: int) -> dict[str, np.ndarray]:
        """Validate explicit initial parameters and bring them into (K, M, D) form."""
        k, m = self.n_states, self.n_mix
        try:
            out = {
                "startprob": np.asarray(init["startprob"], dtype=np.float64).reshape(k),
                "transmat": np.asarray(init["transmat"], dtype=np.float64).reshape(k, k),
                "means": np.asarray(init["means"], dtype=np.float64).reshape(k, m, d),
                "covars": np.asarray(init["covars"], dtype=np.float64).reshape(k, m, d),
                "weights": np.asarray(
                    init.get("weights", np.full((k, m), 1.0 / m)), dtype=np.float64
                ).reshape(k, m),
            }
        except (KeyError, ValueError) as exc:
            raise AffectflowError(f"HMM: invalid init_params ({exc})") from exc
        if any(not np.all(np.isfinite(v)) for v in out.values()) or np.any(out["covars"] <= 0):
            raise AffectflowError("HMM: init_params must be finite with positive covars")
        out["startprob"] = _normalise(out["startprob"])  # floored: no zero scale factors
        out["transmat"] = _normalise(out["transmat"])
        return out

    def _mstep(
        self, xt: np.ndarray, old: dict[str, np.ndarray], gamma: np.ndarray,
        resp: np.ndarray | None,
        start: np.ndarray, xi: np.ndarray, floor: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Re-estimate all parameters; weakly occupied states/components keep the old ones."""
        k, m = self.n_states, self.n_mix
        d, n = xt.shape
        post = gamma if resp is None else (gamma[:, :, None] * resp).reshape(n, k * m)
        occ, s1, s2 = _accumulate(xt, post)
        ok = occ >= _MIN_OCC
        safe = np.where(ok, occ, 1.0)[:, None]
        means = s1 / safe
        covars = np.maximum(s2 / safe - means * means, floor)
        means = np.where(ok[:, None], means, old["means"].reshape(k * m, d))
        covars = np.where(ok[:, None], covars, old["covars"].reshape(k * m, d))
        occ_km = occ.reshape(k, m)
        state_occ = occ_km.sum(axis=1, keepdims=True)
        if m == 1:
            weights = old["weights"]
        else:
            weights = np.maximum(occ_km / np.maximum(state_occ, 1e-300), _WEIGHT_FLOOR)
            weights /= weights.sum(axis=1, keepdims=True)
            weights = np.where(state_occ >= _MIN_OCC, weights, old["weights"])
        new = {
            "startprob": _normalise(start),
            "transmat": _normalise(xi),
            "means": means.reshape(k, m, d),
            "covars": covars.reshape(k, m, d),
            "weights": weights,
        }
        if not all(np.all(np.isfinite(v)) for v in new.values()):
            raise AffectflowError("HMM: Baum-Welch produced non-finite parameters")
        return new

    def loglik(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Total log-likelihood of each sequence, shape (n_seqs,)."""
        return _score_models([self], seqs)[:, 0]


def _score_models(models: Sequence[GaussianHMM], seqs: Sequence[np.ndarray]) -> np.ndarray:
    """Log-likelihood (n_seqs, G) of every sequence under each of the G fitted models at once."""
    for mdl in models:
        if not hasattr(mdl, "means_"):
            raise AffectflowError("HMM: the model is not fitted")
    k, m, d = models[0].means_.shape
    X, lengths = _as_frames(seqs, n_features=d)
    g = len(models)
    means = np.concatenate([mdl.means_.reshape(k * m, d) for mdl in models])
    covars = np.concatenate([mdl.covars_.reshape(k * m, d) for mdl in models])
    log_w = np.log(np.concatenate([mdl.weights_ for mdl in models]))
    startprob = np.stack([mdl.startprob_ for mdl in models])
    transmat = np.stack([mdl.transmat_ for mdl in models])
    out = np.empty((lengths.size, g))
    # batches of whole sequences bound the memory of the (G, frames, K) lattices
    bounds, acc = [0], 0
    for i, length in enumerate(lengths.tolist()):
        if acc and acc + length > _MAX_SCORE_FRAMES:
            bounds.append(i)
            acc = 0
        acc += length
    bounds.append(lengths.size)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        xb = X[starts[first] : starts[last]]
        pk = _pack(lengths[first:last])
        logn = _log_gauss(_packed_frames(xb, pk.src), means, covars)
        logb, _ = _state_loglik(logn.reshape(xb.shape[0], g * k, m), log_w)
        lb = np.ascontiguousarray(logb.reshape(-1, g, k).transpose(1, 0, 2))
        out[first:last] = _seq_sums(_forward(lb, pk, startprob, transmat)[3], pk)
    if not np.all(np.isfinite(out)):
        bad = int(np.argmin(np.isfinite(out).all(axis=1)))
        raise AffectflowError(
            f"HMM: non-finite log-likelihood for sequence {bad} (features far outside the "
            "training range?)"
        )
    return out


class HMMClassifier(BaseEstimator):
    """One ergodic Gaussian HMM per class; predicts the class of highest log-likelihood.

    The variance floor of every class model is relative to the variance of all training frames,
    so a dimension that is constant within one class cannot collapse that class's model.
    """

    def __init__(
        self,
        n_states: int = 3,
        n_mix: int = 1,
        n_iter: int = 20,
        tol: float = 1e-3,
        var_floor: float = 1e-3,
        init: str = "kmeans",
        seed: int = 0,
    ) -> None:
        self.n_states = n_states
        self.n_mix = n_mix
        self.n_iter = n_iter
        self.tol = tol
        self.var_floor = var_floor
        self.init = init
        self.seed = seed

    def fit(self, seqs: Sequence[np.ndarray], y: np.ndarray) -> HMMClassifier:
        """Train one HMM per class on the sequences labelled with it."""
        y = np.asarray(y)
        if y.ndim != 1 or y.size != len(seqs):
            raise AffectflowError(f"HMM: {len(seqs)} sequences but labels of shape {y.shape}")
        X, _ = _as_frames(seqs)
        ref_var = _frame_var(X)
        del X
        self.classes_ = np.unique(y)
        models = []
        for label in self.classes_:
            members = [seqs[i] for i in np.flatnonzero(y == label)]
            hmm = GaussianHMM(**self.get_params())
            try:
                models.append(hmm.fit(members, ref_var=ref_var))
            except AffectflowError as exc:
                raise AffectflowError(f"HMM of class {label!r}: {exc}") from exc
        self.models_ = models
        return self

    def loglik(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Total log-likelihood of each sequence under each class model, (n_seqs, n_classes)."""
        if not hasattr(self, "models_"):
            raise AffectflowError("HMM: the classifier is not fitted")
        return _score_models(self.models_, seqs)

    def predict(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Class of highest log-likelihood for each sequence."""
        return self.classes_[np.argmax(self.loglik(seqs), axis=1)]

    def save(self, path: str | Path) -> None:
        """Write all parameters to an npz file (atomically; no pickled objects)."""
        if not hasattr(self, "models_"):
            raise AffectflowError("HMM: the classifier is not fitted")
        classes = self.classes_
        if classes.dtype == object:
            classes = classes.astype(str)
        arrays: dict[str, Any] = {
            "hyper": np.array(json.dumps(self.get_params())),
            "classes": classes,
            "history": np.array(json.dumps([mdl.history_ for mdl in self.models_])),
            "converged": np.array([mdl.converged_ for mdl in self.models_]),
        }
        for key in ("startprob_", "transmat_", "means_", "covars_", "weights_", "var_floor_"):
            arrays[key.rstrip("_")] = np.stack([getattr(mdl, key) for mdl in self.models_])
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> HMMClassifier:
        """Read a classifier written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {key: z[key] for key in z.files}
        except (OSError, ValueError) as exc:
            raise AffectflowError(f"{path}: not a saved HMMClassifier ({exc})") from exc
        clf = cls(**json.loads(str(data["hyper"])))
        clf.classes_ = data["classes"]
        histories = json.loads(str(data["history"]))
        models = []
        for i in range(clf.classes_.size):
            mdl = GaussianHMM(**clf.get_params())
            for key in ("startprob", "transmat", "means", "covars", "weights", "var_floor"):
                setattr(mdl, key + "_", data[key][i])
            mdl.history_ = histories[i]
            mdl.n_iter_ = len(histories[i])
            mdl.converged_ = bool(data["converged"][i])
            models.append(mdl)
        clf.models_ = models
        return clf
