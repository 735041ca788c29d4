"""Face model of the synthetic corpus: 55 markers in IEMOCAP's MOCAP_rotated frame.

Coordinates are in mm in a head-fixed frame (x: towards the actor's left, y: up, z: forward),
with the nose tip (TNOSE) near, but not exactly at, the origin. A frame is

    base geometry (per speaker) + sum_k w_k(t) * field_k (per speaker)
    + idiosyncratic motion (per speaker) + residual head rotation and translation
    + skin/marker wobble + measurement noise

Fields: three emotional ones, smile (valence > 0: mouth corners up and out, cheeks raised),
frown (valence < 0: inner brows down and together, mouth corners down, chin raised) and brow
raise (activation; negative weight lowers the brows), whose weights are scaled by the speaker's
and the utterance's expressivity (:class:`Display`); five articulatory ones driven by the
speech of the wearer (jaw opening per syllable and vowel, lip rounding, lip spreading, lip
closure for bilabials, lower lip to teeth for labiodentals, :func:`speech_motion`) or by
listening (:func:`listening_motion`); and blinks (eyelids, with the brows and upper cheeks
following a little). Per-speaker geometry differs by several mm per marker, more than the
emotional displacements, which is why the paper normalises face features per speaker.

:func:`add_gaps` blanks out markers as a motion-capture system loses them: brief dropouts of
single markers, occlusions of a group of neighbouring markers (a hand, the head turned) for
tenths of a second to seconds, rarely long dropouts of one marker or whole missing frames.

:func:`format_mocap` turns frames into the file's text quickly: values are quantised to
0.001 mm, mapped to fixed-width byte tokens through lookup tables, and padding is removed in
one vectorised pass (about 8 GB of text at IEMOCAP scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from affectflow.corpus.layout import (
    MARKER_NAMES,
    MOCAP_FPS,
    MOCAP_HEADER_LINE1,
    MOCAP_HEADER_LINE2,
)

#: Base geometry of an average face (mm): the actor's left side and the midline; the right side
#: mirrors the left (RC*, RBRO*, ..., and CH1/FH1/Mou1/Mou2/Mou8 from CH3/FH3/Mou5/Mou4/Mou6).
_LEFT_GEOMETRY: dict[str, tuple[float, float, float]] = {
    "CH2": (0.0, -84.0, -24.0), "CH3": (18.0, -78.0, -28.0),
    "FH2": (0.0, 80.0, -24.0), "FH3": (34.0, 74.0, -30.0),
    "LC1": (30.0, -2.0, -30.0), "LC2": (44.0, -4.0, -38.0), "LC3": (56.0, -8.0, -50.0),
    "LC4": (28.0, -18.0, -28.0), "LC5": (42.0, -22.0, -36.0), "LC6": (54.0, -26.0, -48.0),
    "LC7": (36.0, -40.0, -32.0), "LC8": (50.0, -44.0, -42.0),
    "LLID": (32.0, 30.0, -28.0), "MH": (0.0, 38.0, -20.0), "MNOSE": (0.0, 18.0, -10.0),
    "LNSTRL": (14.0, -8.0, -14.0), "TNOSE": (0.0, 0.0, 0.0),
    "LBM0": (12.0, 40.0, -20.0), "LBM1": (22.0, 42.0, -24.0), "LBM2": (32.0, 42.0, -28.0),
    "LBM3": (42.0, 40.0, -34.0),
    "LBRO1": (14.0, 50.0, -20.0), "LBRO2": (26.0, 54.0, -24.0), "LBRO3": (38.0, 53.0, -30.0),
    "LBRO4": (48.0, 48.0, -38.0),
    "Mou3": (0.0, -26.0, -5.0), "Mou4": (13.0, -28.0, -8.0), "Mou5": (26.0, -36.0, -16.0),
    "Mou6": (13.0, -45.0, -9.0), "Mou7": (0.0, -47.0, -7.0),
    "LHD": (78.0, 55.0, -95.0),
}
_MIRROR_PREFIX = {"LC": "RC", "LLID": "RLID", "LNSTRL": "RNSTRL", "LBM": "RBM", "LBRO": "RBRO",
                  "LHD": "RHD"}
_MIRROR_MIDLINE = {"CH3": "CH1", "FH3": "FH1", "Mou4": "Mou2", "Mou5": "Mou1", "Mou6": "Mou8"}

#: Displacement fields (mm at weight 1) on the actor's left side and midline; mirrored.
_FIELDS: dict[str, dict[str, tuple[float, float, float]]] = {
    "smile": {
        "Mou5": (3.0, 4.0, -1.0), "Mou4": (1.2, 1.5, 0.0), "Mou6": (1.5, 1.5, 0.0),
        "Mou3": (0.0, 0.5, 0.0), "Mou7": (0.0, 0.8, 0.0),
        **{f"LC{i}": (0.6, 1.5, 0.5) for i in (1, 2, 3)},
        **{f"LC{i}": (0.8, 2.5, 1.0) for i in (4, 5, 6, 7, 8)},
        "LLID": (0.0, -0.8, 0.0), "CH2": (0.0, 0.5, 0.0), "CH3": (0.3, 0.5, 0.0),
    },
    "frown": {
        "LBRO1": (-1.5, -2.5, 0.5), "LBRO2": (-1.0, -1.8, 0.3), "LBRO3": (-0.4, -0.8, 0.0),
        "LBM0": (-1.0, -1.5, 0.3), "LBM1": (-0.6, -1.0, 0.0), "FH2": (0.0, -0.8, 0.0),
        "FH3": (-0.3, -0.5, 0.0), "Mou5": (0.0, -2.5, 0.0), "Mou4": (0.0, -0.6, 0.0),
        "Mou3": (0.0, -0.5, 0.0), "Mou7": (0.0, 1.0, 0.5), "Mou6": (0.0, 0.6, 0.3),
        "CH2": (0.0, 1.5, 1.0), "CH3": (0.0, 1.2, 0.8),
    },
    "brow": {
        **{f"LBRO{i}": (0.0, 1.0, 0.2) for i in (1, 2, 3, 4)},
        **{f"LBM{i}": (0.0, 0.7, 0.1) for i in (0, 1, 2, 3)},
        "FH2": (0.0, 0.6, 0.0), "FH3": (0.0, 0.6, 0.0), "LLID": (0.0, 1.5, 0.0),
    },
    "jaw": {
        "Mou7": (0.0, -9.0, -1.0), "Mou6": (-0.5, -8.0, -1.0), "Mou5": (-1.0, -4.0, -1.0),
        "Mou3": (0.0, 0.8, 0.0), "Mou4": (0.0, 0.6, 0.0),
        "CH2": (0.0, -11.0, -3.0), "CH3": (0.0, -10.0, -3.0),
        "LC7": (0.0, -4.0, -1.0), "LC8": (0.0, -3.5, -1.0),
        **{f"LC{i}": (0.0, -1.5, 0.0) for i in (4, 5, 6)},
    },
    "round": {  # lip rounding and protrusion (o, u)
        "Mou5": (-4.0, 0.3, 3.0), "Mou4": (-1.5, 0.6, 3.0), "Mou6": (-1.5, -0.6, 3.0),
        "Mou3": (0.0, 1.0, 3.5), "Mou7": (0.0, -1.0, 3.5),
        "LC7": (-1.0, 0.0, 0.8), "LC8": (-0.8, 0.0, 0.5), "LC4": (-0.4, 0.0, 0.3),
        "LC5": (-0.3, 0.0, 0.2),
    },
    "spread": {  # lip spreading (i, e, ae)
        "Mou5": (2.5, 0.8, -1.2), "Mou4": (1.0, 0.3, -0.8), "Mou6": (1.0, 0.3, -0.8),
        "Mou3": (0.0, -0.3, -0.8), "Mou7": (0.0, 0.4, -0.8),
        "LC7": (0.8, 0.5, 0.0), "LC8": (0.6, 0.4, 0.0), "LC4": (0.3, 0.3, 0.0),
    },
    "press": {  # bilabial closure (p, b, m): lips pressed together
        "Mou3": (0.0, -1.5, -0.8), "Mou4": (0.0, -1.0, -0.5), "Mou7": (0.0, 3.0, -0.5),
        "Mou6": (0.0, 2.2, -0.4), "Mou5": (0.0, 0.5, 0.0), "CH2": (0.0, 1.2, 0.3),
        "CH3": (0.0, 1.0, 0.2),
    },
    "labiodental": {  # f, v: lower lip raised and drawn back under the upper teeth
        "Mou7": (0.0, 3.0, -2.5), "Mou6": (0.0, 2.2, -2.0), "Mou5": (0.0, 0.5, -0.5),
        "Mou3": (0.0, 0.5, 0.5), "CH2": (0.0, 0.6, 0.0),
    },
    "blink": {  # eyelids close; brows follow a little, upper cheeks rise (orbicularis oculi)
        "LLID": (0.0, -7.0, -1.0),
        **{f"LBM{i}": (0.0, -1.0, 0.0) for i in (0, 1, 2, 3)},
        **{f"LBRO{i}": (0.0, -0.5, 0.0) for i in (1, 2, 3, 4)},
        **{f"LC{i}": (0.0, 0.6, 0.2) for i in (1, 2, 3)},
    },
}
FIELD_NAMES: tuple[str, ...] = tuple(_FIELDS)
EMOTION_FIELDS = ("smile", "frown", "brow")
MOTION_FIELDS = ("jaw", "round", "spread", "press", "labiodental")  # speech_motion columns
_INDEX = {m: i for i, m in enumerate(MARKER_NAMES)}

#: Expressivity: log-normal gains (log sd) on the emotional fields, per speaker and utterance.
SPEAKER_EXPRESSIVITY_SD = 0.3
UTTERANCE_EXPRESSIVITY_SD = 0.5
#: Non-emotional conversational displays (polite smiles, frowns of concentration): per
#: utterance, added to v = (V - 3) / 2 before the gain of the speaker.
SOCIAL_DISPLAY_SD = 0.12
#: The emotional field weights saturate softly at this value (a face has a finite range).
EMOTION_LIMIT = 1.8
#: Slow drift of v and a within an utterance (AR(1) per 120 fps frame).
STATE_DRIFT_SD, STATE_DRIFT_RHO = 0.08, 0.995

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
#: Skin and marker wobble (AR(1) per coordinate) and measurement noise, mm.
WOBBLE_SD, WOBBLE_RHO, NOISE_SD = 0.15, 0.95, 0.12


@dataclass(frozen=True)
class Face:
    """One actor's face: geometry, how strongly it expresses, and its own mannerisms."""

    base: np.ndarray  # (55, 3) mm
    fields: np.ndarray  # (len(FIELD_NAMES), 165) displacement per unit weight
    expressivity: float  # gain on the emotional fields
    head_motion: float  # sd (mm) of the residual head translation
    articulation: float  # gain on the speech movements (hypo- or hyper-articulation)
    habits: np.ndarray  # (N_HABITS, 165) idiosyncratic motion patterns
    habit_rho: np.ndarray  # (N_HABITS,) their AR(1) coefficients per frame
    blink_rate: float  # blinks per second while listening


@dataclass(frozen=True)
class Display:
    """How one utterance shows the emotion on the face (see :func:`utterance_display`)."""

    gain: float = 1.0  # on the emotional displacement
    social: float = 0.0  # non-emotional display, in units of v = (V - 3) / 2


def utterance_display(rng: np.random.Generator) -> Display:
    """Draw one utterance's expressivity (log-normal gain, median 1) and social display."""
    return Display(
        gain=float(np.exp(rng.normal(0.0, UTTERANCE_EXPRESSIVITY_SD))),
        social=float(rng.normal(0.0, SOCIAL_DISPLAY_SD)),
    )


def _mirror_name(name: str) -> str | None:
    """The actor's-right counterpart of a left marker (None for markers on the midline)."""
    for left, right in _MIRROR_PREFIX.items():
        if name.startswith(left):
            return right + name[len(left) :]
    return _MIRROR_MIDLINE.get(name)


def _symmetric(table: dict[str, tuple[float, float, float]]) -> np.ndarray:
    """(55, 3) array from a left/midline table; right markers mirror left ones (x negated)."""
    out = np.zeros((len(MARKER_NAMES), 3))
    for name, xyz in table.items():
        out[_INDEX[name]] = xyz
        mirror = _mirror_name(name)
        if mirror is not None:
            out[_INDEX[mirror]] = (-xyz[0], xyz[1], xyz[2])
    return out


@lru_cache(maxsize=1)
def mean_geometry() -> np.ndarray:
    """(55, 3) base geometry of the average face (mm)."""
    return _symmetric(_LEFT_GEOMETRY)


@lru_cache(maxsize=1)
def _mean_fields() -> np.ndarray:
    return np.stack([_symmetric(_FIELDS[k]) for k in FIELD_NAMES])


def make_face(rng: np.random.Generator) -> Face:
    """Draw an actor's face: scaled, individually displaced markers, own expression style.

    Geometry offsets (global scale ~6 %, per marker ~3.5 mm, TNOSE off the origin by ~1 mm)
    exceed the emotional displacements (a few mm), as between real actors.
    """
    scale = rng.normal(1.0, 0.06, 3)
    base = mean_geometry() * scale + rng.normal(0.0, 3.5, (len(MARKER_NAMES), 3))
    base[_INDEX["TNOSE"]] = rng.normal(0.0, 1.0, 3)
    fields = _mean_fields() * rng.uniform(0.75, 1.25, (len(FIELD_NAMES), 1, 1))
    fields = fields * (1.0 + rng.normal(0.0, 0.1, fields.shape))
    head_motion = float(rng.uniform(0.2, 0.5))
    expressivity = float(np.exp(rng.normal(0.0, SPEAKER_EXPRESSIVITY_SD)))
    habits, rho = _habits(rng)
    return Face(
        base=base,
        fields=fields.reshape(len(FIELD_NAMES), -1),
        expressivity=expressivity,
        head_motion=head_motion,
        articulation=float(rng.uniform(0.7, 1.3)),
        habits=habits,
        habit_rho=rho,
        blink_rate=float(rng.uniform(0.2, 0.45)),
    )


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


def face_frames(
    rng: np.random.Generator,
    face: Face,
    valence: float,
    activation: float,
    motion: np.ndarray,
    display: Display | None = None,
    speaking: bool = False,
) -> np.ndarray:
    """(n, 165) marker coordinates for one utterance, without gaps.

    ``valence``/``activation`` are the wearer's latent state (1..5); ``motion`` are the
    MOTION_FIELDS weights per frame (:func:`speech_motion`, :func:`listening_motion`; a 1-d
    array is the jaw opening alone), its length fixes the frame count. ``display`` is the
    utterance's expressivity (default: gain 1, no social display); ``speaking`` raises the
    blink rate (people blink more while talking).
    """
    display = display or Display()
    motion = np.asarray(motion, dtype=float)
    if motion.ndim == 1:
        motion = np.column_stack([motion, np.zeros((len(motion), len(MOTION_FIELDS) - 1))])
    n = len(motion)
    gain = face.expressivity * display.gain
    drift = STATE_DRIFT_SD * ar1(rng, n, STATE_DRIFT_RHO, 2)
    v = gain * ((valence - 3.0) / 2.0 + drift[:, 0]) + face.expressivity * display.social
    a = gain * ((activation - 3.0) / 2.0 + drift[:, 1])
    v, a = (EMOTION_LIMIT * np.tanh(x / EMOTION_LIMIT) for x in (v, a))  # muscles saturate
    blink = _blinks(rng, n, face.blink_rate * (1.4 if speaking else 1.0))
    head = face.head_motion / 0.35 * (1.0 + 0.5 * (activation - 3.0) / 2.0)
    rotation = np.radians(head * (ROTATION_OFFSET_DEG * rng.standard_normal(3)
                                  + ROTATION_DRIFT_DEG * ar1(rng, n, 0.995, 3)))
    habits = np.zeros((n, len(face.habit_rho)))
    for k, rho in enumerate(face.habit_rho):
        habits[:, k] = ar1(rng, n, float(rho))[:, 0]
    weights = np.column_stack(
        [np.maximum(v, 0.0), np.maximum(-v, 0.0), np.where(a > 0, a, 0.6 * a),
         face.articulation * motion, blink, habits, rotation]
    )
    basis = np.vstack([face.fields, face.habits, _rotation_basis(face.base.tobytes())])
    # einsum, not BLAS: the generated corpus must not depend on the machine's BLAS kernel
    # (a last-bit difference could flip a rounded digit of the MOCAP text).
    coords = face.base.reshape(1, -1) + np.einsum("nk,kd->nd", weights, basis)
    shift = face.head_motion * (1.0 + 0.5 * (activation - 3.0) / 2.0) * ar1(rng, n, 0.98, 3)
    coords += np.tile(shift, len(MARKER_NAMES))
    coords += WOBBLE_SD * ar1(rng, n, WOBBLE_RHO, coords.shape[1])
    coords += rng.normal(0.0, NOISE_SD, coords.shape)
    return coords


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


# --- text formatting -------------------------------------------------------------------------

_PAD = 0  # byte removed after assembling fixed-width tokens
_MAX_Q = 999_999  # largest |coordinate| in units of 0.001 mm
_NAN_INDEX = 2 * _MAX_Q + 1
_COORD_WIDTH = 9  # 8 token bytes (sign, 3 digits, ".", 3 decimals) + separator


@lru_cache(maxsize=1)
def _coord_table() -> np.ndarray:
    """Every coordinate token as 8 left-padded ASCII bytes in a uint64, indexed by q + _MAX_Q.

    ``q`` is the coordinate in 0.001 mm (|q| <= 999999); the last entry is ``NaN``. 16 MB,
    built once per process; turning a frame into text is then one gather per value.
    """
    q = np.arange(-_MAX_Q, _MAX_Q + 1)
    a = np.abs(q)
    text = np.full((len(q) + 1, 8), _PAD, dtype=np.uint8)
    text[:-1, 1:4] = _digits(a // 1000, 3)
    text[:-1, 4] = ord(".")
    text[:-1, 5:8] = _digits(a % 1000 + 1000, 4)[:, 1:]
    # the sign goes right before the first digit
    first = np.argmax(text[:-1, 1:4] != _PAD, axis=1)
    negative = np.flatnonzero(q < 0)
    text[negative, first[negative]] = ord("-")
    text[-1, 5:8] = np.frombuffer(b"NaN", np.uint8)
    return text.view(np.uint64)[:, 0].copy()


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII of non-negative integers, right-aligned, left-padded with _PAD."""
    out = np.full((len(values), width), _PAD, dtype=np.uint8)
    rest = values.astype(np.int64)
    for col in range(width - 1, -1, -1):
        digit = (rest % 10 + 48).astype(np.uint8)
        out[:, col] = np.where((rest > 0) | (col == width - 1), digit, _PAD)
        rest //= 10
    return out


def format_mocap(first_frame: int, coords: np.ndarray) -> bytes:
    """The MOCAP_rotated file text: 2 header lines, then frame, time and 165 coordinates.

    Frames are numbered from ``first_frame`` (1-based, on the dialog's 120 fps clock); time is
    ``(frame - 1) / 120`` s with 4 decimals; coordinates have 3 decimals, NaN for gaps.
    """
    n = len(coords)
    frames = np.arange(first_frame, first_frame + n)
    time_q = np.rint((frames - 1) / 120.0 * 10_000).astype(np.int64)
    row = [
        _digits(frames, 7),
        _sep(n, b" "),
        _digits(time_q // 10_000, 5),
        _sep(n, b"."),
        _digits(time_q % 10_000 + 10_000, 5)[:, 1:],
        _sep(n, b" "),
        _coord_tokens(coords),
    ]
    buf = np.concatenate(row, axis=1).ravel()
    header = f"{MOCAP_HEADER_LINE1}\n{MOCAP_HEADER_LINE2}\n".encode()
    return header + buf[buf != _PAD].tobytes()


def _sep(n: int, char: bytes) -> np.ndarray:
    return np.full((n, 1), char[0], dtype=np.uint8)


def _coord_tokens(coords: np.ndarray) -> np.ndarray:
    """(n, 165 * 9) bytes: each coordinate as a padded token plus ' ' (last one '\\n')."""
    n, m = coords.shape
    q = np.rint(coords * 1000.0)
    nan = np.isnan(q)
    if nan.any():
        q[nan] = 0.0
    if np.abs(q).max(initial=0.0) > _MAX_Q:
        raise ValueError("marker coordinate beyond +-999.999 mm")
    idx = q.astype(np.int32) + _MAX_Q
    if nan.any():
        idx[nan] = _NAN_INDEX
    tok = np.empty((n, m, _COORD_WIDTH), dtype=np.uint8)
    tok[:, :, :8].view(np.uint64)[:, :, 0] = _coord_table()[idx]
    tok[:, :, 8] = ord(" ")
    tok[:, -1, 8] = ord("\n")
    return tok.reshape(n, m * _COORD_WIDTH)
