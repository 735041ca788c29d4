"""Non-emotional motion of the synthetic face: articulation driven by the wearer's speech
(vowels, syllable onsets), listening movements, blinks, per-speaker mannerisms (habits),
residual head rotation, and marker dropouts.

:func:`add_gaps` blanks out markers as a motion-capture system loses them: brief dropouts of
single markers, occlusions of a group of neighbouring markers (a hand, the head turned) for
tenths of a second to seconds, rarely long dropouts of one marker or whole missing frames.

Separate from :mod:`.synth_face`, which assembles the frames from the emotional display and
these weights; its public names (and ``_rotation_basis``) are re-exported there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from affectflow.corpus.layout import MARKER_NAMES, MOCAP_FPS
from affectflow.corpus.synth_face_geometry import MOTION_FIELDS, mean_geometry

#: Articulation per vowel of :data:`affectflow.corpus.synth_audio.VOWEL_FORMANTS` order
#: (i, e, a, o, u, schwa, ae): jaw opening (relative), lip rounding, lip spreading.
VOWEL_OPENNESS = np.array([0.45, 0.7, 1.0, 0.8, 0.45, 0.6, 0.95]) / 0.7
VOWEL_ROUNDING = np.array([0.0, 0.0, 0.0, 0.7, 1.0, 0.1, 0.0])
VOWEL_SPREADING = np.array([1.0, 0.6, 0.2, 0.0, 0.0, 0.1, 0.6])
P_BILABIAL = 0.3  # a syllable without fricative onset starts with a lip closure
P_LABIODENTAL = 0.35  # a fricative onset is labiodental (f, v)
COARTICULATION_S = 0.04  # time constant of the lips following their targets
#: Idiosyncratic motion: patterns per speaker (local, smooth displacement of nearby markers).
N_HABITS = 6
#: Residual head rotation left by the head-motion compensation (degrees, per axis): a
#: per-utterance offset plus a slow drift, scaled by the speaker's head motion.
ROTATION_OFFSET_DEG, ROTATION_DRIFT_DEG = 0.3, 0.3
_HEAD_CENTRE = np.array([0.0, -10.0, -90.0])  # mm, pivot of the residual rotation


def _habits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A speaker's idiosyncratic motion patterns (N_HABITS, 165) and their AR(1) coefficients.

    Each is a smooth local displacement (Gaussian fall-off, radius 12-25 mm around a face
    marker, peak 0.6-1.5 mm in a random direction), on one side or mirrored on both; each
    moves with its own time scale (0.15-1.5 s): lip pressing, a lopsided mouth, nose wrinkling.
    """
    geometry = mean_geometry()
    face_idx = [i for i, m in enumerate(MARKER_NAMES) if m not in ("LHD", "RHD")]
    out = np.zeros((N_HABITS, len(MARKER_NAMES), 3))
    for k in range(N_HABITS):
        centre = geometry[face_idx[int(rng.integers(len(face_idx)))]]
        radius = rng.uniform(12.0, 25.0)
        direction = rng.standard_normal(3)
        direction *= rng.uniform(0.6, 1.5) / np.linalg.norm(direction)
        sides = [(centre, direction)]
        if rng.random() < 0.5:
            flip = np.array([-1.0, 1.0, 1.0])
            sides.append((centre * flip, direction * flip))
        for c, d in sides:
            weight = np.exp(-((geometry - c) ** 2).sum(axis=1) / (2 * radius * radius))
            out[k] += weight[:, None] * d
    tau = np.exp(rng.uniform(np.log(0.15), np.log(1.5), N_HABITS))
    return out.reshape(N_HABITS, -1), np.exp(-1.0 / (MOCAP_FPS * tau))


def ar1(rng: np.random.Generator, n: int, rho: float, size: int = 1) -> np.ndarray:
    """(n, size) stationary AR(1) noise with unit variance and lag-1 correlation ``rho``."""
    x = rng.standard_normal((n, size))
    zi = rho * rng.standard_normal((1, size))
    y, _ = lfilter([np.sqrt(1 - rho * rho)], [1.0, -rho], x, axis=0, zi=zi)
    return y


def _smooth(x: np.ndarray, tau: float) -> np.ndarray:
    """Zero-phase one-pole smoothing (time constant ``tau`` s at 120 fps), per column."""
    alpha = np.exp(-1.0 / (MOCAP_FPS * tau))
    fwd = lfilter([1.0 - alpha], [1.0, -alpha], x, axis=0)
    return lfilter([1.0 - alpha], [1.0, -alpha], fwd[::-1], axis=0)[::-1]


def speech_motion(
    rng: np.random.Generator,
    t: np.ndarray,
    rate: float,
    envelope: np.ndarray,
    vowel: np.ndarray,
    fricative: np.ndarray,
    syllable_start: np.ndarray,
    activation: float,
) -> np.ndarray:
    """(len(t), 5) MOTION_FIELDS weights of a speaking wearer at times ``t`` (s).

    The tracks (envelope, vowel, fricative, syllable starts) are sampled at ``rate`` Hz from the
    utterance start. The jaw follows the envelope, opened more for open vowels and when
    activated (about 10-15 mm on loud syllables); the lips round (o, u) or spread (i, e, ae)
    with the vowel, close for bilabial onsets and touch the teeth for labiodental fricatives;
    all lip targets are smoothed (coarticulation).
    """
    n = len(t)
    pos = np.clip(np.rint(t * rate).astype(np.int64), 0, len(envelope) - 1)
    env = np.interp(t * rate, np.arange(len(envelope)), envelope)
    v = vowel[pos].astype(np.int64)
    spoken = v >= 0
    vi = np.where(spoken, v, 0)
    out = np.zeros((n, len(MOTION_FIELDS)))
    out[:, 0] = (0.75 * (1.0 + 0.25 * (activation - 3.0) / 2.0) * np.clip(env, 0.0, 1.6)
                 * np.where(spoken, VOWEL_OPENNESS[vi], 0.6))
    out[:, 1] = np.where(spoken, VOWEL_ROUNDING[vi], 0.0)
    out[:, 2] = np.where(spoken, VOWEL_SPREADING[vi], 0.0)
    starts = np.flatnonzero(syllable_start) / rate  # s
    voiced_start = ~fricative[np.flatnonzero(syllable_start)]
    closure = starts[voiced_start & (rng.random(len(starts)) < P_BILABIAL)]
    for s0 in closure:
        out[(t >= s0 - rng.uniform(0.05, 0.09)) & (t < s0 + 0.01), 3] = 1.0
    labio = np.zeros(len(envelope), dtype=bool)
    picks = rng.random(len(starts)) < P_LABIODENTAL
    for s0 in np.flatnonzero(syllable_start)[picks]:
        rest = np.flatnonzero(~fricative[s0:])
        labio[s0 : s0 + (rest[0] if len(rest) else len(fricative) - s0)] = True
    out[:, 4] = labio[pos].astype(float)
    out[:, 1:] = _smooth(out[:, 1:], COARTICULATION_S)
    return out


def listening_motion(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 5) MOTION_FIELDS weights of a listener: small, slow jaw movements (breathing) and
    now and then closed-lip back-channels ("mm-hmm")."""
    out = np.zeros((n, len(MOTION_FIELDS)))
    out[:, 0] = 0.08 * np.abs(ar1(rng, n, 0.97)[:, 0])
    for _ in range(rng.poisson(0.15 * n / MOCAP_FPS)):
        start = int(rng.integers(0, n))
        out[start : start + int(rng.integers(24, 48)), 3] = rng.uniform(0.4, 1.0)
    out[:, 3] = _smooth(out[:, 3:4], COARTICULATION_S)[:, 0]
    return out


def _blinks(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """(n,) eyelid closure 0..1: Poisson blinks at ``rate`` per second, each closing in about
    0.08-0.1 s, briefly closed, and reopening in 0.15-0.2 s; some incomplete."""
    out = np.zeros(n)
    margin = 40
    for _ in range(rng.poisson(rate * (n + margin) / MOCAP_FPS)):
        start = int(rng.integers(-margin, n))
        close, hold, reopen = int(rng.integers(9, 13)), int(rng.integers(2, 7)), int(
            rng.integers(18, 25))
        shape = np.concatenate([
            np.sin(np.linspace(0.0, np.pi / 2, close, endpoint=False)) ** 2,
            np.ones(hold),
            np.cos(np.linspace(0.0, np.pi / 2, reopen)) ** 2,
        ]) * rng.uniform(0.6, 1.0)
        lo, hi = max(start, 0), min(start + len(shape), n)
        if hi > lo:
            out[lo:hi] = np.maximum(out[lo:hi], shape[lo - start : hi - start])
    return out


@lru_cache(maxsize=64)
def _rotation_basis(base_key: bytes) -> np.ndarray:
    """(3, 165): displacement of every coordinate per radian of rotation about x, y, z."""
    r = np.frombuffer(base_key).reshape(-1, 3) - _HEAD_CENTRE
    basis = np.zeros((3, len(r), 3))
    for axis in range(3):
        omega = np.zeros(3)
        omega[axis] = 1.0
        basis[axis] = np.cross(omega, r)
    return basis.reshape(3, -1)


#: Marker dropouts. Brief ones of single markers (log-uniform 1-24 frames, per second); group
#: occlusions (markers within 20-40 mm of one, 0.2-3 s, per second); one side of the face
#: (head turned away, 0.5-4 s, per second); rarely a long dropout of one marker or whole frames.
SHORT_GAP_RATE = 0.6
OCCLUSION_RATE = 0.03
HALF_FACE_RATE = 0.005


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> int:
    return int(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def add_gaps(rng: np.random.Generator, coords: np.ndarray, duration: float) -> None:
    """Blank out markers (NaN) in place, as a motion-capture system loses them (see above)."""
    n = len(coords)
    xyz = coords.reshape(n, len(MARKER_NAMES), 3)
    for _ in range(rng.poisson(SHORT_GAP_RATE * duration)):
        start, length = rng.integers(0, n), _log_uniform(rng, 1, 25)
        xyz[start : start + length, rng.integers(0, len(MARKER_NAMES))] = np.nan
    geometry = mean_geometry()
    for _ in range(rng.poisson(OCCLUSION_RATE * duration)):
        centre = geometry[rng.integers(0, len(MARKER_NAMES))]
        group = ((geometry - centre) ** 2).sum(axis=1) < rng.uniform(20.0, 40.0) ** 2
        length = _log_uniform(rng, 24, 360)
        start = int(rng.integers(-length // 2, n))
        xyz[max(start, 0) : start + length, group] = np.nan
    for _ in range(rng.poisson(HALF_FACE_RATE * duration)):
        side = geometry[:, 0] * rng.choice([-1.0, 1.0]) > 5.0
        length = _log_uniform(rng, 60, 480)
        start = int(rng.integers(-length // 2, n))
        xyz[max(start, 0) : start + length, side] = np.nan
    if rng.random() < 0.03:
        length = int(rng.integers(30, 400))
        start = int(rng.integers(0, max(n - length, 1)))
        xyz[start : start + length, rng.integers(0, len(MARKER_NAMES))] = np.nan
    if rng.random() < 0.01:
        start = int(rng.integers(0, n))
        xyz[start : start + int(rng.integers(1, 4))] = np.nan
