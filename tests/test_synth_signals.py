"""Signal properties of the synthetic corpus that real recordings have (issue 15, item 4):
expressivity that varies between speakers and utterances, speech-driven and idiosyncratic
facial motion, blinks, residual head rotation, and marker dropouts of realistic lengths."""

from __future__ import annotations

import numpy as np

from affectflow.corpus import layout
from affectflow.corpus.synth_audio import (
    ENVELOPE_RATE,
    make_voice,
    synthesize,
    utterance_gain,
)
from affectflow.corpus.synth_face import (
    FIELD_NAMES,
    Display,
    add_gaps,
    face_frames,
    make_face,
    speech_motion,
    utterance_display,
)

M = layout.MARKER_NAMES
TNOSE = M.index("TNOSE")
FACE_COLS = np.array([[3 * M.index(m) + k for k in range(3)] for m in layout.FACE_MARKERS]).ravel()


def _relative(coords: np.ndarray, marker: str, axis: int) -> np.ndarray:
    """A marker coordinate relative to TNOSE, per frame."""
    return coords[:, 3 * M.index(marker) + axis] - coords[:, 3 * TNOSE + axis]


def _speaking(rng: np.random.Generator, face, voice, seconds: float, valence=3.0, activation=3.0):
    n = int(seconds * 16_000)
    speech = synthesize(rng, voice, valence, activation, n, gain=utterance_gain(rng))
    t = np.arange(int(seconds * 120)) / 120
    motion = speech_motion(rng, t, ENVELOPE_RATE, speech.envelope, speech.vowel,
                           speech.fricative, speech.syllable_start, activation)
    return motion, face_frames(rng, face, valence, activation, motion, utterance_display(rng),
                               speaking=True)


def test_blinks_close_the_eyelids_a_few_times_per_ten_seconds() -> None:
    rng = np.random.default_rng(0)
    face = make_face(rng)
    coords = face_frames(rng, face, 3.0, 3.0, np.zeros(120 * 60))  # a minute of listening
    lid = _relative(coords, "LLID", 1)
    closed = lid < np.median(lid) - 3.0
    events = int((closed[1:] & ~closed[:-1]).sum())
    assert 60 * 0.1 <= events <= 60 * 0.7, events  # 6-42 per minute (people: ~10-30)
    brow = _relative(coords, "LBRO2", 1)
    lid_dip = np.median(lid) - lid[closed].mean()
    brow_dip = np.median(brow) - brow[closed].mean()
    assert 0.0 < brow_dip < lid_dip / 4  # the brows follow a little


def test_face_expressivity_varies_between_utterances_of_one_state() -> None:
    rng = np.random.default_rng(1)
    face = make_face(rng)
    smile = FIELD_NAMES.index("smile")

    def smile_weights(display_of) -> np.ndarray:
        out = []
        for _ in range(40):
            coords = face_frames(rng, face, 4.5, 3.0, np.zeros(240), display_of())
            out.append(_read_weights(face, coords)[:, smile].mean())
        return np.array(out)

    drawn = smile_weights(lambda: utterance_display(rng))
    fixed = smile_weights(Display)
    assert drawn.std() / drawn.mean() > 0.3  # one utterance tells the state only roughly
    assert fixed.std() / fixed.mean() < 0.15  # without it: only the slow drift
    assert abs(np.median(drawn) / fixed.mean() - 1) < 0.3  # median gain 1


def _read_weights(face, coords: np.ndarray) -> np.ndarray:
    """Least-squares field weights per frame, knowing the face (all its motion bases)."""
    from affectflow.corpus.synth_face import _rotation_basis

    translation = np.tile(np.eye(3), len(M))
    basis = np.vstack([face.fields, face.habits, _rotation_basis(face.base.tobytes()),
                       translation])
    y = coords - face.base.reshape(1, -1)
    return np.linalg.lstsq(basis.T, y.T, rcond=None)[0].T


def test_voice_expressivity_and_level_vary_between_utterances() -> None:
    voice = make_voice(np.random.default_rng(2), "F")
    rng = np.random.default_rng(3)

    def levels(gain_of) -> np.ndarray:
        out = []
        for _ in range(24):
            x = synthesize(rng, voice, 3.0, 4.5, 9_600, gain=gain_of()).samples / 32768.0
            out.append(20 * np.log10(np.sqrt(np.mean(x.astype(float) ** 2))))
        return np.array(out)

    drawn, fixed = levels(lambda: utterance_gain(rng)), levels(lambda: 1.0)
    assert fixed.std() > 0.5  # loudness varies for non-emotional reasons too
    assert drawn.std() > 1.3 * fixed.std()  # and with how strongly the emotion shows


def test_speech_moves_lips_beyond_the_jaw() -> None:
    rng = np.random.default_rng(4)
    face, voice = make_face(rng), make_voice(rng, "M")
    motion, coords = _speaking(rng, face, voice, 4.0)
    jaw, rounding, spreading, press = motion[:, 0], motion[:, 1], motion[:, 2], motion[:, 3]
    assert rounding.std() > 0.1 and spreading.std() > 0.1 and press.max() > 0.3
    assert abs(np.corrcoef(jaw, rounding)[0, 1]) < 0.6  # not just the jaw again
    width = _relative(coords, "Mou5", 0) - _relative(coords, "Mou1", 0)
    assert np.corrcoef(width, rounding - spreading)[0, 1] < -0.5  # rounded lips are narrower


def test_face_variance_spreads_over_many_components() -> None:
    rng = np.random.default_rng(5)
    face, voice = make_face(rng), make_voice(rng, "F")
    frames = []
    for _ in range(30):
        v, a = rng.uniform(1.5, 4.5, 2)
        coords = _speaking(rng, face, voice, rng.uniform(1.0, 3.0), v, a)[1]
        rel = coords[:, FACE_COLS].reshape(len(coords), -1, 3) - coords[:, None, 3 * TNOSE:
                                                                        3 * TNOSE + 3]
        frames.append(rel.reshape(len(coords), -1))
    x = np.vstack(frames)
    eig = np.linalg.eigvalsh(np.cov(x.T))[::-1]
    n95 = int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.95) + 1)
    assert n95 >= 6, n95  # one speaker; pooled speakers spread further
    assert eig[0] / eig.sum() < 0.8  # the jaw no longer explains nearly everything


def test_marker_dropouts_have_realistic_lengths() -> None:
    rng = np.random.default_rng(6)
    n = 120 * 300  # five minutes
    coords = np.zeros((n, 165))
    add_gaps(rng, coords, n / 120)
    missing = np.isnan(coords[:, ::3])  # (frames, markers)
    runs = []
    for col in missing.T:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], col.astype(int), [0]])))
        runs += list(edges[1::2] - edges[::2])
    runs = np.array(runs)
    assert (runs <= 12).sum() >= 60  # many brief ones: the LLD stage interpolates them
    assert (runs > 12).sum() >= 5  # some are not
    many = missing.sum(axis=1) >= 3  # a group of markers lost together (occlusion)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], many.astype(int), [0]])))
    assert (edges[1::2] - edges[::2]).max() >= 24
    assert missing.mean() < 0.05
