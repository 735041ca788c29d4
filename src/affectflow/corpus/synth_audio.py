"""Source-filter speech synthesiser of the synthetic corpus.

Each utterance is a sequence of pseudo-syllables: a glottal pulse train (F0 contour with
declination, pitch accents and jitter) plus aspiration noise, shaped by a syllable-rate
amplitude envelope and filtered by four formant resonators that change per syllable (one
vowel each); some syllables start with a fricative (high-passed noise). Prosody follows the
speaker's latent emotion: activation drives pitch level and range, loudness, speaking rate and
spectral tilt strongly; valence shifts pitch and tilt only slightly. Each speaker has their own
base pitch, vocal-tract length (formant scaling), rate, tilt and level.

How strongly the emotion shows varies: every speaker has a vocal expressivity (log-normal gain
on the emotional deviation of all prosodic parameters) and so does every utterance
(:func:`utterance_gain`, drawn by the caller); on top, pitch, loudness, rate and tilt vary per
utterance for reasons unrelated to emotion (sentence type, emphasis, distance to the
microphone). One utterance therefore tells only approximately how activated its speaker is.
:class:`Speech` also returns the syllable timing and vowels, which drive the lips of the face
model.

Everything is vectorised over samples; the only Python loop runs over syllables (formant
filtering with carried filter state), a few per second of audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import butter, lfilter

from affectflow.corpus.layout import SAMPLE_RATE

#: Envelope rate handed to the face model (mouth opening follows the speech envelope).
ENVELOPE_RATE = 400
_DECIM = SAMPLE_RATE // ENVELOPE_RATE

#: Vowel formants F1..F4 (Hz) of an adult male vocal tract: i, e, a, o, u, schwa, ae.
VOWEL_FORMANTS = np.array(
    [
        [280, 2250, 2900, 3500],
        [500, 1850, 2500, 3500],
        [720, 1150, 2450, 3500],
        [560, 860, 2400, 3400],
        [320, 880, 2250, 3400],
        [500, 1500, 2500, 3500],
        [660, 1700, 2400, 3500],
    ],
    dtype=float,
)
_BANDWIDTHS = np.array([80.0, 110.0, 170.0, 260.0])
_NOISE_FLOOR = 10 ** (-66 / 20)  # background noise (full scale) so silence is never digital 0

# Emotional cues: slope per unit of a = (A - 3) / 2 and of v = (V - 3) / 2.
F0_SLOPE_ST = (4.5, 0.5)  # pitch level shift (semitones)
LEVEL_SLOPE_DB = (8.0, 1.0)  # speech level (dB)
RATE_SLOPE_LOG2 = (0.3, 0.04)  # speaking rate (octaves)
TILT_SLOPE = (0.45, 0.05)  # pre-emphasis coefficient (spectral tilt)
# Expressivity: log-normal gains on (a, v) (log sd), per speaker and per utterance.
SPEAKER_EXPRESSIVITY_SD = 0.25
UTTERANCE_EXPRESSIVITY_SD = 0.35
#: The scaled deviations saturate softly at this value (a voice has a finite range).
EMOTION_LIMIT = 1.6
# Per-utterance variation unrelated to emotion (sd; the rate factor is uniform +-RATE_JITTER).
F0_JITTER_ST = 0.8
LEVEL_JITTER_DB = 1.5
RATE_JITTER = 0.08
TILT_JITTER = 0.05


@dataclass(frozen=True)
class Voice:
    """One speaker's vocal identity."""

    f0: float  # base pitch (Hz) at neutral activation
    formant_scale: float  # vocal-tract length: formants are multiplied by this
    rate: float  # syllables per second at neutral activation
    tilt: float  # offset of the spectral-tilt (pre-emphasis) coefficient
    level_db: float  # speech RMS level (dBFS) at neutral activation
    jitter: float  # relative period jitter
    breathiness: float  # aspiration noise relative to the pulse train
    expressivity: float = 1.0  # gain on the emotional deviation of every prosodic parameter


@dataclass(frozen=True)
class Speech:
    """A synthesised utterance: 16-bit samples, amplitude envelope and articulation tracks.

    The tracks are at ENVELOPE_RATE: ``vowel`` is the index into VOWEL_FORMANTS of the
    syllable being spoken (-1 in silence and pauses), ``fricative`` marks unvoiced onsets and
    ``syllable_start`` the first envelope sample of every spoken syllable.
    """

    samples: np.ndarray  # int16, SAMPLE_RATE
    envelope: np.ndarray  # float, ENVELOPE_RATE, about 0 (silence) .. 1.5 (loud syllable)
    vowel: np.ndarray  # int8, ENVELOPE_RATE
    fricative: np.ndarray  # bool, ENVELOPE_RATE
    syllable_start: np.ndarray  # bool, ENVELOPE_RATE


def make_voice(rng: np.random.Generator, gender: str) -> Voice:
    """Draw a speaker's voice; female voices have higher pitch and shorter vocal tracts."""
    female = gender == "F"
    return Voice(
        f0=float(rng.normal(205.0, 18.0) if female else rng.normal(118.0, 10.0)),
        formant_scale=float(rng.normal(1.16, 0.03) if female else rng.normal(1.0, 0.03)),
        rate=float(rng.normal(4.6, 0.35)),
        tilt=float(rng.normal(0.0, 0.06)),
        level_db=float(rng.normal(-28.0, 1.5)),
        jitter=float(rng.uniform(0.005, 0.015)),
        breathiness=float(rng.uniform(0.02, 0.08) * (1.5 if female else 1.0)),
        expressivity=float(np.exp(rng.normal(0.0, SPEAKER_EXPRESSIVITY_SD))),
    )


def utterance_gain(rng: np.random.Generator) -> float:
    """How strongly one utterance's voice shows the emotion (log-normal, median 1)."""
    return float(np.exp(rng.normal(0.0, UTTERANCE_EXPRESSIVITY_SD)))


def synthesize(
    rng: np.random.Generator,
    voice: Voice,
    valence: float,
    activation: float,
    n_samples: int,
    edge_silence: tuple[float, float] = (0.06, 0.18),
    gain: float = 1.0,
) -> Speech:
    """Synthesise ``n_samples`` of speech with brief silence at both edges.

    ``valence`` and ``activation`` are latent values on the 1..5 rating scale; their deviations
    from 3 (halved) are scaled by the speaker's expressivity times ``gain`` (the utterance's, see
    :func:`utterance_gain`) and saturate softly at +-EMOTION_LIMIT before they shape the
    prosody.
    """
    scale = voice.expressivity * gain
    a, v = (float(EMOTION_LIMIT * np.tanh(scale * (x - 3.0) / 2.0 / EMOTION_LIMIT))
            for x in (activation, valence))
    lead, trail = (
        int(min(rng.uniform(*edge_silence), 0.12 * n_samples / SAMPLE_RATE) * SAMPLE_RATE)
        for _ in range(2)
    )
    n_speech = max(n_samples - lead - trail, 1)
    syl = _syllables(rng, voice, a, v, n_speech)
    env_v, env_u = _envelopes(syl, n_speech)
    f0 = _f0_contour(rng, voice, syl, a, v, n_speech)
    source = _glottal_source(rng, voice, f0, env_v, a, v)
    voiced = _formant_filter(source, syl, voice, a)
    fric = lfilter(*_fricative_filter(), rng.standard_normal(n_speech) * env_u)
    speech = np.zeros(n_samples)
    speech[lead : lead + n_speech] = voiced + 2.0 * fric
    envelope = np.zeros(n_samples)
    envelope[lead : lead + n_speech] = env_v + env_u
    level = (voice.level_db + LEVEL_SLOPE_DB[0] * a + LEVEL_SLOPE_DB[1] * v
             + rng.normal(0.0, LEVEL_JITTER_DB))
    samples = _to_pcm(rng, speech, envelope, level)
    vowel, fricative, first = _articulation(syl, lead, n_speech, n_samples)
    return Speech(samples=samples, envelope=envelope[::_DECIM].copy(), vowel=vowel,
                  fricative=fricative, syllable_start=first)


def _articulation(
    syl: _Syllables, lead: int, n_speech: int, n_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vowel, fricative-onset and syllable-start tracks at ENVELOPE_RATE (see :class:`Speech`)."""
    t = np.arange(0, n_samples, _DECIM) - lead  # sample within the speech part
    inside = (t >= 0) & (t < n_speech)
    seg = np.searchsorted(syl.start, np.clip(t, 0, n_speech - 1), side="right") - 1
    spoken = inside & (syl.amp[seg] > 0)
    vowel = np.where(spoken, syl.vowel[seg], -1).astype(np.int8)
    u = (t - syl.start[seg]) / syl.length[seg]
    fricative = spoken & (u < syl.onset[seg])
    continues = np.concatenate([[False], spoken[:-1] & (seg[1:] == seg[:-1])])
    return vowel, fricative, spoken & ~continues


@dataclass(frozen=True)
class _Syllables:
    start: np.ndarray  # first sample of each segment
    length: np.ndarray  # samples per segment
    amp: np.ndarray  # peak amplitude (0 for pauses)
    onset: np.ndarray  # fraction of the segment that is an unvoiced (fricative) onset
    vowel: np.ndarray  # index into VOWEL_FORMANTS


def _syllables(
    rng: np.random.Generator, voice: Voice, a: float, v: float, n: int
) -> _Syllables:
    """Segment ``n`` samples into syllables and short pauses (faster when activated)."""
    rate = (voice.rate * 2 ** (RATE_SLOPE_LOG2[0] * a + RATE_SLOPE_LOG2[1] * v)
            * rng.uniform(1.0 - RATE_JITTER, 1.0 + RATE_JITTER))
    mean_len = SAMPLE_RATE / rate
    k = int(np.ceil(n / mean_len * 1.6)) + 2
    lengths = rng.gamma(8.0, mean_len / 8.0, k)
    pause = rng.random(k) < (0.10 - 0.04 * a)
    pause[0] = False
    lengths[pause] = rng.uniform(0.08, 0.3, pause.sum()) * SAMPLE_RATE
    used = int(np.searchsorted(np.cumsum(lengths), n)) + 1
    lengths, pause = lengths[:used], pause[:used]
    bounds = np.rint(np.concatenate([[0.0], np.cumsum(lengths)]) * n / lengths.sum())
    bounds = bounds.astype(np.int64)
    amp = rng.lognormal(0.0, 0.25, used) * np.where(pause, 0.0, 1.0)
    onset = np.where(rng.random(used) < 0.45, rng.uniform(0.2, 0.35, used), 0.0)
    return _Syllables(
        start=bounds[:-1],
        length=np.diff(bounds),
        amp=amp,
        onset=onset,
        vowel=rng.integers(0, len(VOWEL_FORMANTS), used),
    )


def _envelopes(syl: _Syllables, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Voiced and unvoiced amplitude envelopes (per sample)."""
    seg = np.repeat(np.arange(len(syl.start)), syl.length)[:n]
    u = (np.arange(n) - syl.start[seg]) / syl.length[seg]
    on = syl.onset[seg]
    amp = syl.amp[seg]
    vowel_pos = np.clip((u - on) / (1.0 - on), 0.0, 1.0)
    env_v = amp * np.sin(np.pi * vowel_pos) ** 0.6 * (u >= on)
    fric_pos = np.clip(u / np.maximum(on, 1e-9), 0.0, 1.0)
    env_u = 0.35 * amp * np.sin(np.pi * fric_pos) * (u < on)
    return env_v, env_u


def _f0_contour(
    rng: np.random.Generator, voice: Voice, syl: _Syllables, a: float, v: float, n: int
) -> np.ndarray:
    """F0 per sample: level and range rise with activation (strongly) and valence (weakly)."""
    shift_st = F0_SLOPE_ST[0] * a + F0_SLOPE_ST[1] * v + rng.normal(0.0, F0_JITTER_ST)
    range_st = max(2.0 * 2 ** (1.0 * a) + 0.3 * v, 0.2)
    centres = syl.start + syl.length / 2.0
    accents = rng.normal(0.0, 0.35 * range_st, len(centres))
    declination = -rng.uniform(1.0, 3.0) * centres / n
    st = np.interp(np.arange(n), centres, accents + declination)
    return np.clip(voice.f0 * 2 ** ((shift_st + st) / 12.0), 55.0, 480.0)


def _glottal_source(
    rng: np.random.Generator, voice: Voice, f0: np.ndarray, env_v: np.ndarray, a: float, v: float
) -> np.ndarray:
    """Jittered pulse train shaped into a glottal flow derivative, plus aspiration noise.

    The pre-emphasis coefficient (spectral tilt) grows with activation: aroused speech is
    brighter.
    """
    phase = np.cumsum(f0 / SAMPLE_RATE)
    pos = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    pos = pos + np.rint(rng.normal(0.0, voice.jitter, len(pos)) * SAMPLE_RATE / f0[pos])
    pos = np.clip(pos.astype(np.int64), 0, len(f0) - 1)
    pulses = np.zeros(len(f0))
    shimmer = 1.0 + rng.normal(0.0, 0.05, len(pos))
    np.add.at(pulses, pos, env_v[pos] * shimmer)
    c = 0.35 + TILT_SLOPE[0] * a + TILT_SLOPE[1] * v + voice.tilt + rng.normal(0.0, TILT_JITTER)
    c = float(np.clip(c, 0.0, 0.95))
    rg = 0.97
    b = np.polymul([1.0, -1.0], [1.0, -c])
    glottal = lfilter(b, [1.0, -2 * rg, rg * rg], pulses)
    glottal /= max(np.sqrt(np.mean(glottal**2)), 1e-12)
    breath = voice.breathiness * (1.0 - 0.4 * a) * env_v * rng.standard_normal(len(f0))
    return glottal + breath


def _formant_filter(
    source: np.ndarray, syl: _Syllables, voice: Voice, a: float
) -> np.ndarray:
    """Cascade of four resonators whose frequencies change per syllable (state carried over)."""
    out = np.empty_like(source)
    zi = np.zeros(8)
    f1_gain = 1.0 + 0.06 * a  # a wider mouth opening raises F1 in aroused speech
    for s, n, vowel in zip(syl.start, syl.length, syl.vowel, strict=True):
        formants = VOWEL_FORMANTS[vowel] * voice.formant_scale
        formants[0] *= f1_gain
        b, den = _resonators(tuple(np.round(formants).astype(int)))
        out[s : s + n], zi = lfilter(b, den, source[s : s + n], zi=zi)
    return out


@lru_cache(maxsize=4096)
def _resonators(formants: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of unit-DC-gain (Klatt) resonators in cascade."""
    b = np.ones(1)
    den = np.ones(1)
    for f, bw in zip(formants, _BANDWIDTHS, strict=True):
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        theta = 2 * np.pi * min(f, 0.45 * SAMPLE_RATE) / SAMPLE_RATE
        section = np.array([1.0, -2 * r * np.cos(theta), r * r])
        den = np.polymul(den, section)
        b = b * section.sum()
    return b, den


@lru_cache(maxsize=1)
def _fricative_filter() -> tuple[np.ndarray, np.ndarray]:
    b, a = butter(2, 2500 / (SAMPLE_RATE / 2), btype="high")
    return b, a


def _to_pcm(
    rng: np.random.Generator, speech: np.ndarray, envelope: np.ndarray, level_db: float
) -> np.ndarray:
    """Scale the speech to ``level_db`` RMS (over its active part), add noise, quantise."""
    active = envelope > 0.1 * max(float(envelope.max()), 1e-12)
    rms = np.sqrt(np.mean(speech[active] ** 2)) if active.any() else 1.0
    y = speech * (10 ** (level_db / 20) / max(rms, 1e-12))
    y = 0.98 * np.tanh(y / 0.98)  # soft limiter: loud syllables never clip hard
    y += rng.normal(0.0, _NOISE_FLOOR, len(y))
    return np.clip(np.rint(y * 32767), -32768, 32767).astype(np.int16)
