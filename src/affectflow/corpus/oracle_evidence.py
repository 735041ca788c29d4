"""Evidence model of the oracle (:mod:`.oracle`): what an ideal observer reads of one
utterance's emotion, with noise terms derived from the generator's own constants.

For every utterance the workflow evaluates (spoken by the marker wearer, ``wearer_only``), an
ideal observer gets one number of *evidence* per utterance and dimension, drawn from what the
generator implies for the signal that carries the dimension (docs/synthetic-corpus.md, "Oracle
context gain"):

- **valence from the face**: the observer knows the speaker's face (geometry, fields,
  expressivity) and reads the emotional field weights of every frame, so it sees
  ``gamma (V - 3 + 2 drift) + 2 social / E[g]``: ``gamma = g / E[g]`` the utterance's log-normal
  expressivity gain (``synth_face.UTTERANCE_EXPRESSIVITY_SD``), ``drift`` the utterance mean of
  the within-utterance AR(1) drift of v (its variance from the utterance's frame count) and
  ``social`` the non-emotional display (``synth_face.SOCIAL_DISPLAY_SD``);
- **activation from the voice**: the observer knows the speaker's voice and reads four cues
  (pitch level, speech level, speaking rate, spectral tilt), each with its per-utterance
  non-emotional jitter; their inverse-variance combination sees
  ``gamma (A - 3 + rho (V - 3)) + noise``: ``gamma`` the voice's utterance gain
  (``synth_audio.UTTERANCE_EXPRESSIVITY_SD``), ``rho`` the cues' weighted valence slope relative
  to their activation slope, ``noise`` the combined jitter. Weaker cues (pitch range,
  breathiness, F1) are left out.

Separate from :mod:`.oracle` (prior, smoother, decisions, UAR) because it is the only part tied
to the face and voice generators' constants; :mod:`.oracle` re-exports its public names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectflow.corpus import synth_audio as audio
from affectflow.corpus import synth_face as face

DIMENSIONS = ("valence", "activation")
_QUADRATURE = 15  # Gauss-Hermite nodes over the log gain


@dataclass(frozen=True)
class EvidenceNoise:
    """Per-utterance evidence model of one dimension (rating scale)."""

    gain_log_sd: float  # log sd of the multiplicative gain (divided by its mean)
    additive_sd: float  # sd of the additive noise outside the gain
    inner_sd: float  # sd of the additive noise inside the gain (besides the drift)
    drift_sd: float  # sd of the within-utterance drift (rating scale), inside the gain
    drift_rho: float  # its AR(1) coefficient per 120 fps frame (0: none)
    valence_slope: float  # rho: weight of (V - 3) inside the gain (voice only)


def face_valence_noise(scale: float = 1.0) -> EvidenceNoise:
    """Valence evidence of the face (see the module docstring); ``scale`` multiplies every
    noise term (0: noise-free evidence)."""
    e_g = np.exp(0.5 * face.UTTERANCE_EXPRESSIVITY_SD**2)
    return EvidenceNoise(
        gain_log_sd=scale * face.UTTERANCE_EXPRESSIVITY_SD,
        additive_sd=scale * 2.0 * face.SOCIAL_DISPLAY_SD / e_g,
        inner_sd=0.0,
        drift_sd=scale * 2.0 * face.STATE_DRIFT_SD,
        drift_rho=face.STATE_DRIFT_RHO,
        valence_slope=0.0,
    )


def voice_activation_noise(scale: float = 1.0) -> EvidenceNoise:
    """Activation evidence of the voice: inverse-variance combination of pitch level, level,
    rate and tilt, each read as an estimate of a = (A - 3) / 2 with its per-utterance jitter."""
    rate_sd = np.std(np.log2(np.linspace(1 - audio.RATE_JITTER, 1 + audio.RATE_JITTER, 10001)))
    cues = [  # (slope on a, slope on v, jitter sd)
        (*audio.F0_SLOPE_ST, audio.F0_JITTER_ST),
        (*audio.LEVEL_SLOPE_DB, audio.LEVEL_JITTER_DB),
        (*audio.RATE_SLOPE_LOG2, rate_sd),
        (*audio.TILT_SLOPE, audio.TILT_JITTER),
    ]
    precision = np.array([(sa / sd) ** 2 for sa, _, sd in cues])
    weights = precision / precision.sum()
    rho = float(sum(w * sv / sa for w, (sa, sv, _) in zip(weights, cues, strict=True)))
    return EvidenceNoise(
        gain_log_sd=scale * audio.UTTERANCE_EXPRESSIVITY_SD,
        additive_sd=0.0,
        inner_sd=scale * 2.0 / np.sqrt(precision.sum()),  # a -> rating scale
        drift_sd=0.0,
        drift_rho=0.0,
        valence_slope=scale * rho,
    )


#: The evidence of the generator before issue 15 (item 4): the face's only per-utterance noise
#: was the within-utterance drift; the voice's level (8 dB per unit of a, no jitter) and tilt
#: read activation exactly up to the valence confound of the level cue (1 dB per unit of v).
PREVIOUS_NOISES = (
    EvidenceNoise(gain_log_sd=0.0, additive_sd=0.0, inner_sd=0.0, drift_sd=0.16,
                  drift_rho=0.995, valence_slope=0.0),
    EvidenceNoise(gain_log_sd=0.0, additive_sd=0.0, inner_sd=0.0, drift_sd=0.0,
                  drift_rho=0.0, valence_slope=0.125),
)


def _mean_variance_ar1(n: np.ndarray, rho: float) -> np.ndarray:
    """Variance of the mean of ``n`` consecutive values of a unit-variance AR(1)."""
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    if rho <= 0.0:
        return 1.0 / n
    return ((1 + rho) / (1 - rho) - 2 * rho * (1 - rho**n) / (n * (1 - rho) ** 2)) / n


def _evidence(
    rng: np.random.Generator, x: np.ndarray, v_other: np.ndarray, frames: np.ndarray,
    noise: EvidenceNoise,
) -> np.ndarray:
    """Draw the evidence of latent values ``x`` (rating scale) under ``noise``."""
    m = len(x)
    sig = noise.gain_log_sd
    gamma = np.exp(rng.normal(0.0, sig, m) - 0.5 * sig * sig)  # mean 1
    drift_var = noise.drift_sd**2 * _mean_variance_ar1(frames, noise.drift_rho)
    inner = (rng.normal(0.0, 1.0, m) * np.sqrt(drift_var + noise.inner_sd**2)
             + noise.valence_slope * (v_other - 3.0))
    return 3.0 + gamma * (x - 3.0 + inner) + rng.normal(0.0, 1.0, m) * noise.additive_sd


def _likelihood(
    e: np.ndarray, frames: np.ndarray, noise: EvidenceNoise, grid: np.ndarray
) -> np.ndarray:
    """Exact likelihood of evidence ``e`` (n_draws, m) on ``grid`` values of its target (the
    gain integrated out by Gauss-Hermite quadrature): (n_draws, m, len(grid))."""
    sig = noise.gain_log_sd
    nodes, weights = np.polynomial.hermite_e.hermegauss(_QUADRATURE)
    gammas = np.exp(sig * nodes - 0.5 * sig * sig)  # mean 1
    weights = weights / weights.sum()
    inner = noise.drift_sd**2 * _mean_variance_ar1(frames, noise.drift_rho) + noise.inner_sd**2
    out = np.zeros((*e.shape, len(grid)))
    for g, w in zip(gammas, weights, strict=True):
        var = g * g * inner[None, :, None] + noise.additive_sd**2
        z = (e[:, :, None] - 3.0 - g * (grid - 3.0)) ** 2 / var
        out += w * np.exp(-0.5 * z) / np.sqrt(var)
    return out


def evidence_summary() -> dict[str, dict[str, float]]:
    """The evidence noise parameters (rating scale) per dimension, for the documentation."""
    out = {}
    for name, noise in zip(DIMENSIONS, (face_valence_noise(), voice_activation_noise()),
                           strict=True):
        out[name] = {
            "gain_log_sd": noise.gain_log_sd,
            "gain_sd": float(np.sqrt(np.exp(noise.gain_log_sd**2) - 1.0)),
            "additive_sd": noise.additive_sd,
            "inner_sd": noise.inner_sd,
            "drift_sd_2s": float(noise.drift_sd * np.sqrt(
                _mean_variance_ar1(np.array([240.0]), noise.drift_rho)[0])),
            "valence_slope": noise.valence_slope,
        }
    return out
