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

The static tables (geometry, fields) are in :mod:`.synth_face_geometry`, the non-emotional
motion (articulation, blinks, mannerisms, head rotation, marker dropouts) in
:mod:`.synth_face_motion` and the text formatting in :mod:`.synth_face_text`; this module keeps
the expressivity, the face draw and the frame assembly, and re-exports their names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectflow.corpus.layout import MARKER_NAMES
from affectflow.corpus.synth_face_geometry import _INDEX, _mean_fields
from affectflow.corpus.synth_face_geometry import EMOTION_FIELDS as EMOTION_FIELDS
from affectflow.corpus.synth_face_geometry import FIELD_NAMES as FIELD_NAMES
from affectflow.corpus.synth_face_geometry import MOTION_FIELDS as MOTION_FIELDS
from affectflow.corpus.synth_face_geometry import mean_geometry as mean_geometry
from affectflow.corpus.synth_face_motion import COARTICULATION_S as COARTICULATION_S
from affectflow.corpus.synth_face_motion import HALF_FACE_RATE as HALF_FACE_RATE
from affectflow.corpus.synth_face_motion import N_HABITS as N_HABITS
from affectflow.corpus.synth_face_motion import OCCLUSION_RATE as OCCLUSION_RATE
from affectflow.corpus.synth_face_motion import P_BILABIAL as P_BILABIAL
from affectflow.corpus.synth_face_motion import P_LABIODENTAL as P_LABIODENTAL
from affectflow.corpus.synth_face_motion import ROTATION_DRIFT_DEG as ROTATION_DRIFT_DEG
from affectflow.corpus.synth_face_motion import ROTATION_OFFSET_DEG as ROTATION_OFFSET_DEG
from affectflow.corpus.synth_face_motion import SHORT_GAP_RATE as SHORT_GAP_RATE
from affectflow.corpus.synth_face_motion import VOWEL_OPENNESS as VOWEL_OPENNESS
from affectflow.corpus.synth_face_motion import VOWEL_ROUNDING as VOWEL_ROUNDING
from affectflow.corpus.synth_face_motion import VOWEL_SPREADING as VOWEL_SPREADING
from affectflow.corpus.synth_face_motion import _blinks, _habits
from affectflow.corpus.synth_face_motion import _rotation_basis as _rotation_basis
from affectflow.corpus.synth_face_motion import add_gaps as add_gaps
from affectflow.corpus.synth_face_motion import ar1 as ar1
from affectflow.corpus.synth_face_motion import listening_motion as listening_motion
from affectflow.corpus.synth_face_motion import speech_motion as speech_motion
from affectflow.corpus.synth_face_text import format_mocap as format_mocap

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
