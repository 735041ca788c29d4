"""Oracle context gain: how much the whole dialog can tell about one utterance's emotion level,
computed from the synthetic corpus's own generative model (no classifier of the project).

For every utterance the workflow evaluates (spoken by the marker wearer, ``wearer_only``), an
ideal observer gets one number of *evidence* per utterance and dimension: valence from the face,
activation from the voice, with the noise the generator implies (:mod:`.oracle_evidence`).

Two decisions per utterance, for the level (low/medium/high, :func:`affectflow.labels.level3`)
of the rater-mean label the workflow uses as truth (the corpus's exact labels, regenerated from
the structure and annotation streams):

- **single utterance**: posterior of the latent state from the utterance's evidence and the
  corpus-wide prior (scenario unknown, position in the dialog unknown);
- **whole sequence**: posterior from the evidence of all the wearer's utterances of the dialog
  under the generator's latent model (scenario mood and trend unknown with the preset's
  spread of scenarios, per-dialog mood shift, speaker offset, coupled AR(1) deviation): the
  smoother of that state-space model.

The latent model is linear-Gaussian except for the clip to 1..5, which the oracle ignores. The
evidence likelihood is exact (the log-normal gain integrated out numerically); the posterior
combines it with the Gaussian prior by expectation propagation (Gaussian site terms matched to
the exact likelihood, :func:`_posterior`), exact for a single utterance up to the grid. The
level probability of a latent value is exact for the rater model (2-4 raters, each
``round(latent + bias + N(0, 0.55))`` clipped to 1..5, bias marginalised). Two decision rules:
MAP (the level of highest posterior probability) and balanced (highest
``p(level | evidence) / p(level)``, the Bayes rule for unweighted average recall when the
posteriors are calibrated). Pure numpy and scipy; deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from affectflow.corpus import synth_emotion as emo
from affectflow.corpus.layout import MOCAP_FPS
from affectflow.corpus.oracle_evidence import DIMENSIONS as DIMENSIONS
from affectflow.corpus.oracle_evidence import PREVIOUS_NOISES as PREVIOUS_NOISES
from affectflow.corpus.oracle_evidence import EvidenceNoise as EvidenceNoise
from affectflow.corpus.oracle_evidence import _evidence as _evidence
from affectflow.corpus.oracle_evidence import _likelihood
from affectflow.corpus.oracle_evidence import evidence_summary as evidence_summary
from affectflow.corpus.oracle_evidence import face_valence_noise as face_valence_noise
from affectflow.corpus.oracle_evidence import voice_activation_noise as voice_activation_noise
from affectflow.corpus.synth import PRESETS, Preset, plan_corpus
from affectflow.corpus.synth_dialog import (
    _STREAM_DIALOG,
    DialogSpec,
    dialog_labels,
    rng_for,
    scenario_of,
)
from affectflow.labels import level3

_STREAM_ORACLE = 9  # sub-stream of a dialog for the oracle's evidence draws
_EP_GRID = np.linspace(-1.0, 7.0, 401)  # values of the evidence's target for EP
_EP_SWEEPS = 5
_GRID = np.linspace(-1.0, 7.0, 801)  # latent values for the level probabilities
_EDGES = np.concatenate([[-np.inf], (_GRID[1:] + _GRID[:-1]) / 2, [np.inf]])


# --- the latent model --------------------------------------------------------------------------


def _scenario_prior(preset: Preset, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (mood M at the start, trend T over the dialog) over the preset's
    dialogs: the spread of scenarios, plus the per-dialog shift (on M) and impro drift (on T)."""
    rows, impro = [], []
    for session in preset.dialogs:
        for name in session:
            scenario, scripted = scenario_of(name)
            start, end = emo.SCENARIOS[scenario]
            rows.append((start[dim], end[dim] - start[dim] if scripted else 0.0))
            impro.append(not scripted)
    x = np.array(rows)
    mean = x.mean(axis=0)
    cov = np.cov(x.T, bias=True)
    cov[0, 0] += emo.MOOD_SHIFT_SD[dim] ** 2
    cov[1, 1] += np.mean(impro) * emo.IMPRO_DRIFT_SD[dim] ** 2
    return mean, cov


def _deviation_cov(n_turns: int, dim: int, speaker: int) -> np.ndarray:
    """(n, n) covariance of the coupled AR(1) deviation of one speaker over a dialog's turns."""
    phi, kappa, q = emo.AR_PHI, emo.AR_KAPPA, emo.AR_INNOVATION[dim] ** 2
    a = np.array([[phi - kappa, kappa], [kappa, phi - kappa]])
    s = np.eye(2) * q / (1 - phi * phi)  # the generator's initial state
    states = np.empty((n_turns, 2, 2))
    powers = np.empty((n_turns, 2, 2))
    power = np.eye(2)
    for t in range(n_turns):
        s = a @ s @ a.T + q * np.eye(2)
        states[t], powers[t] = s, power
        power = a @ power
    lag = np.subtract.outer(np.arange(n_turns), np.arange(n_turns))
    low = np.einsum("ijk,jk->ij", powers[np.abs(lag)][:, :, speaker, :], states[:, :, speaker])
    return np.where(lag >= 0, low, low.T)


def _level_probabilities() -> np.ndarray:
    """(len(_GRID), 3): probability of each level of the rater-mean label given the latent."""
    sd = np.hypot(emo.RATER_NOISE[0], emo.RATER_BIAS_SD)
    x = np.clip(_GRID, 1.0, 5.0)[:, None]
    ks = np.arange(1, 6)
    upper = np.where(ks == 5, np.inf, ks + 0.5)
    lower = np.where(ks == 1, -np.inf, ks - 0.5)
    one = ndtr((upper - x) / sd) - ndtr((lower - x) / sd)  # (G, 5) one rater's rating
    out = np.zeros((len(_GRID), 3))
    for n, p_n in zip(emo.N_RATERS_CHOICES, emo.N_RATERS_P, strict=True):
        dist = np.ones((len(_GRID), 1))  # distribution of the sum of ratings, sums from n
        for _ in range(n):
            dist = np.stack([np.convolve(row, r) for row, r in zip(dist, one, strict=True)])
        sums = np.arange(n, 5 * n + 1)
        levels = level3(sums / n)
        for c in range(3):
            out[:, c] += p_n * dist[:, levels == c].sum(axis=1)
    return out


def _level_posterior(mean: np.ndarray, sd: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(m, 3): level probabilities for Gaussian posteriors of the latent state."""
    sd = np.maximum(sd, 1e-9)[:, None]
    cdf = ndtr((_EDGES[None, :] - mean[:, None]) / sd)
    return np.diff(cdf, axis=1) @ table


# --- simulation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Utterances:
    """The evaluated utterances of a preset, per dialog."""

    dialog: list[int]  # index into specs
    positions: list[np.ndarray]  # turn indices (wearer's turns)
    progress: list[np.ndarray]
    latent: list[np.ndarray]  # (m, 2) V, A of the wearer
    label: list[np.ndarray]  # (m, 2) levels of the rater-mean labels
    frames: list[np.ndarray]  # mocap frames per utterance
    n_turns: list[int]
    wearer: list[int]  # 0 F, 1 M


def _collect(preset: Preset, seed: int) -> tuple[list[DialogSpec], _Utterances]:
    specs = plan_corpus(preset, seed)
    out = _Utterances([], [], [], [], [], [], [], [])
    for k, spec in enumerate(specs):
        labels = dialog_labels(seed, spec, preset.style)
        w = 0 if spec.name[5] == "F" else 1
        turns = [t for t in labels.turns if t.gender == spec.name[5]]
        idx = np.array([t.index for t in turns])
        n = spec.n_turns
        out.dialog.append(k)
        out.positions.append(idx)
        out.progress.append(np.linspace(0.0, 1.0, n)[idx])
        out.latent.append(np.column_stack(
            [labels.emotion.valence[idx, w], labels.emotion.activation[idx, w]]))
        summary = np.array([labels.annotations[t.utt_id].summary[:2] for t in turns])
        out.label.append(np.asarray(level3(summary)))
        out.frames.append(np.array(
            [(float(t.end) - float(t.start)) * MOCAP_FPS for t in turns]))
        out.n_turns.append(n)
        out.wearer.append(w)
    return specs, out


def _uar(truth: np.ndarray, pred: np.ndarray) -> float:
    classes = np.unique(truth)
    return float(np.mean([(pred[truth == c] == c).mean() for c in classes]))


def oracle_context_gain(
    preset: str | Preset = "demo", seed: int = 0, noise_scale: float = 1.0, n_draws: int = 10,
    noises: tuple[EvidenceNoise, EvidenceNoise] | None = None,
) -> dict[str, dict[str, float]]:
    """UAR of the single-utterance and whole-sequence oracle decisions, per dimension.

    Returns ``{dimension: {"uar_single", "uar_sequence", "gain", "balanced_uar_single",
    "balanced_uar_sequence", "balanced_gain", "n"}}``: UARs of the MAP decisions and of the
    balanced ones (maximising ``p(level | evidence) / p(level)``), averaged over ``n_draws``
    independent draws of the evidence (the labels are the corpus's). ``noise_scale``
    multiplies every evidence noise term (0: the evidence is the latent state itself);
    ``noises`` replaces the (valence, activation) evidence models (``noise_scale`` ignored).
    """
    cfg = PRESETS[preset] if isinstance(preset, str) else preset
    specs, utts = _collect(cfg, seed)
    table = _level_probabilities()
    if noises is None:
        noises = (face_valence_noise(noise_scale), voice_activation_noise(noise_scale))
    results: dict[str, dict[str, float]] = {}
    priors = [_scenario_prior(cfg, d) for d in range(2)]
    # evidence of both dimensions, n_draws times per dialog, from the oracle's own stream
    draws = []
    for k, spec in enumerate(specs):
        rng = rng_for(seed, spec.session, _STREAM_DIALOG + spec.index, _STREAM_ORACLE)
        x = utts.latent[k]
        draws.append([np.stack([_evidence(rng, x[:, d], x[:, 0], utts.frames[k], noises[d])
                                for _ in range(n_draws)]) for d in range(2)])
    for d, name in enumerate(DIMENSIONS):
        noise = noises[d]
        rho = noise.valence_slope
        truth, pred_single, pred_seq = [], [], []
        prior_level = np.zeros(3)
        for k in range(len(specs)):
            e = draws[k][d]  # (n_draws, m)
            frames = utts.frames[k]
            # whole sequence: the dialog's prior, all its evidence. The evidence is about
            # z = latent + rho (valence - 3) (the voice's valence confound, rho = 0 for the face)
            mean, cov = _dialog_prior(priors, d, utts, k)
            v_mean, v_cov = _dialog_prior(priors, 0, utts, k)
            post_mean, post_var = _posterior(
                mean, cov, mean + rho * (v_mean - 3.0), cov + rho * rho * v_cov, e, frames,
                noise)
            # single utterance: corpus-wide prior, own evidence only
            p_mean, p_var = _single_prior(priors, d, utts, k)
            pv_mean, pv_var = _single_prior(priors, 0, utts, k)
            s_mean, s_post = _posterior(
                p_mean, np.diag(p_var), p_mean + rho * (pv_mean - 3.0),
                np.diag(p_var + rho * rho * pv_var), e, frames, noise)
            prior_level += _level_posterior(p_mean, np.sqrt(p_var), table).sum(axis=0)
            pred_single.append([_level_posterior(mu, np.sqrt(var), table)
                                for mu, var in zip(s_mean, s_post, strict=True)])
            pred_seq.append([_level_posterior(mu, np.sqrt(var), table)
                             for mu, var in zip(post_mean, post_var, strict=True)])
            truth.append(utts.label[k][:, d])
        prior_level /= prior_level.sum()
        y = np.concatenate(truth)
        out: dict[str, float] = {}
        for prefix, weight in (("", np.ones(3)), ("balanced_", 1.0 / prior_level)):
            for key, probs in (("single", pred_single), ("sequence", pred_seq)):
                per_draw = [np.vstack([dialog[r] for dialog in probs]) for r in range(n_draws)]
                out[f"{prefix}uar_{key}"] = float(np.mean(
                    [_uar(y, np.argmax(q * weight, axis=1)) for q in per_draw]))
            out[f"{prefix}gain"] = out[f"{prefix}uar_sequence"] - out[f"{prefix}uar_single"]
        results[name] = {**out, "n": int(len(y))}
    return results


@dataclass(frozen=True)
class EvidenceSequence:
    """One dialog's evaluated utterances as the oracle sees them: ``evidence`` (m, 2) of valence
    and activation drawn with the generator's noise, ``level`` (m, 2) the levels (0..2) of the
    rater-mean labels, ``session`` the dialog's session (for speaker-independent folds)."""

    session: int
    evidence: np.ndarray
    level: np.ndarray


def evidence_sequences(
    preset: str | Preset = "demo", seed: int = 0, noise_scale: float = 1.0,
) -> list[EvidenceSequence]:
    """Per dialog, the evidence :func:`oracle_context_gain` with ``n_draws=1`` decides from,
    and the labels: data on which a learner can find the context gain the oracle measures
    (``tests/test_context_gain.py``)."""
    cfg = PRESETS[preset] if isinstance(preset, str) else preset
    specs, utts = _collect(cfg, seed)
    noises = (face_valence_noise(noise_scale), voice_activation_noise(noise_scale))
    out = []
    for k, spec in enumerate(specs):
        rng = rng_for(seed, spec.session, _STREAM_DIALOG + spec.index, _STREAM_ORACLE)
        x = utts.latent[k]
        per_dim = [_evidence(rng, x[:, d], x[:, 0], utts.frames[k], noises[d]) for d in range(2)]
        out.append(EvidenceSequence(spec.session, np.column_stack(per_dim), utts.label[k]))
    return out


def _posterior(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_z: np.ndarray, cov_z: np.ndarray,
    e: np.ndarray, frames: np.ndarray, noise: EvidenceNoise,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and variances (n_draws, m) of the latent ``a`` given evidence ``e`` about
    ``z`` (``z = a + confound``, so cov(a, z) = cov_a), by expectation propagation: Gaussian
    site terms on z moment-matched to the exact likelihood (:func:`_likelihood`) in turn."""
    if noise.gain_log_sd == 0 and noise.additive_sd == 0 and noise.inner_sd == 0 and (
            noise.drift_sd == 0):  # the evidence is z itself: plain Gaussian conditioning
        gain = np.linalg.solve(cov_z, cov_a).T
        var = np.clip(np.diag(cov_a - gain @ cov_a), 0.0, None)
        return mean_a + (e - mean_z) @ gain.T, np.broadcast_to(var, e.shape).copy()
    lik = _likelihood(e, frames, noise, _EP_GRID)
    post_mean = np.empty_like(e)
    post_var = np.empty_like(e)
    eye = np.eye(len(mean_z))
    for j in range(len(e)):
        tau = np.full(len(mean_z), 1e-10)  # site precisions and precision-means
        nu = np.zeros(len(mean_z))
        for _ in range(_EP_SWEEPS):
            root = np.sqrt(tau)
            b = eye + root[:, None] * cov_z * root[None, :]
            kr = cov_z * root[None, :]
            sigma = cov_z - kr @ np.linalg.solve(b, kr.T)
            mu = sigma @ (np.linalg.solve(cov_z, mean_z) + nu)
            var = np.diag(sigma)
            tau_c = np.maximum(1.0 / var - tau, 1e-10)
            nu_c = mu / var - nu
            cav_m, cav_v = nu_c / tau_c, 1.0 / tau_c
            q = lik[j] * np.exp(-0.5 * (_EP_GRID[None, :] - cav_m[:, None]) ** 2
                                / cav_v[:, None])
            q /= np.maximum(q.sum(axis=1, keepdims=True), 1e-300)
            m_hat = q @ _EP_GRID
            v_hat = np.maximum(q @ _EP_GRID**2 - m_hat**2, 1e-8)
            tau = 0.5 * tau + 0.5 * np.maximum(1.0 / v_hat - tau_c, 1e-10)
            nu = 0.5 * nu + 0.5 * (m_hat / v_hat - nu_c)
        # a given the sites on z: Gaussian conditioning with cov(a, z) = cov_a
        root = np.sqrt(tau)
        b = eye + root[:, None] * cov_z * root[None, :]
        resid = nu / root - root * mean_z  # S^(1/2) (site mean - prior mean of z)
        ka = cov_a * root[None, :]
        post_mean[j] = mean_a + ka @ np.linalg.solve(b, resid)
        post_var[j] = np.clip(np.diag(cov_a - ka @ np.linalg.solve(b, ka.T)), 1e-10, None)
    return post_mean, post_var


def _dialog_prior(
    priors: list[tuple[np.ndarray, np.ndarray]], d: int, utts: _Utterances, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and covariance of the wearer's latent ``d`` at the dialog's evaluated turns:
    scenario mood and trend (unknown scenario), speaker offset, coupled AR(1) deviation."""
    (mu_m, mu_t), cov_mt = priors[d]
    idx, p = utts.positions[k], utts.progress[k]
    dev = _deviation_cov(utts.n_turns[k], d, utts.wearer[k])[np.ix_(idx, idx)]
    basis = np.column_stack([np.ones_like(p), p])
    cov = basis @ cov_mt @ basis.T + emo.SPEAKER_OFFSET_SD[d] ** 2 + dev
    return basis @ np.array([mu_m, mu_t]), cov


def _single_prior(
    priors: list[tuple[np.ndarray, np.ndarray]], d: int, utts: _Utterances, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and variance of one utterance's latent ``d`` with its dialog's scenario and
    its position in the dialog unknown (position uniform over the dialog)."""
    (mu_m, mu_t), cov = priors[d]
    m = len(utts.positions[k])
    dev = np.diag(_deviation_cov(utts.n_turns[k], d, utts.wearer[k]))[utts.positions[k]]
    var = (cov[0, 0] + cov[1, 1] / 3 + cov[0, 1] + mu_t**2 / 12
           + emo.SPEAKER_OFFSET_SD[d] ** 2 + dev)
    return np.full(m, mu_m + 0.5 * mu_t), var
