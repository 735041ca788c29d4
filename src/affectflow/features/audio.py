"""Audio low-level descriptors with Praat (praat-parselmouth) on the shared 25 ms frame grid.

Per frame: 12 MFCC, 27 mel filterbank (MFB) energies, pitch and energy (41 LLDs,
:data:`affectflow.features.groups.AUDIO_LLDS`), 50 ms window, 25 ms shift. Praat calls:

- ``Sound: To Pitch (ac)``: time step 0.025 s, pitch floor 60 Hz, ceiling 600 Hz (config
  ``lld.pitch_ceiling``; the ceiling does not change the analysis window), the other
  arguments Praat's defaults (15 candidates, not very accurate, silence threshold 0.03,
  voicing threshold 0.45, octave cost 0.01, octave-jump cost 0.35, voiced/unvoiced cost 0.14).
  Its window is 3 periods of the floor: 3 / 60 Hz = 50 ms. ``pitch`` is F0 in Hz, NaN on
  frames Praat calls unvoiced (no value is made up for them).
- ``Sound: To MelSpectrogram``: window length 0.05 s (Gaussian; 0.1 s physical), time step
  0.025 s, first filter 100 mel, filter distance 100 mel, maximum 0 (= Nyquist, 2840 mel at
  16 kHz), which gives exactly 27 triangular filters. ``mfb_i`` is filter ``i``'s energy in dB,
  ``10 log10(P / 4e-10)``, as Praat's ``To Matrix`` (dB) reports it (-300 dB on digital silence).
- ``MelSpectrogram: To MFCC``: 12 coefficients from the mel spectrogram above (Praat's DCT of
  the dB filter energies), so no second filterbank pass is needed. ``c0`` is not kept.
- ``Sound: To Intensity``: minimum pitch 64 Hz (Kaiser window 6.4 / 64 = 0.1 s physical,
  3.2 / 64 = 50 ms effective), time step 0.025 s, mean not subtracted. ``energy`` is this
  intensity in dB (samples taken as Pa, re 2e-5 Pa); -300 dB on digital silence.

Alignment. Praat places the ``n`` frames of an analysis centred in the sound, so different
window lengths put frames at different times (a frame or two apart at the edges, or half a
step off). Each analysis therefore runs on the stretch of samples its frames need: the grid
span ``[0, 0.05 + 0.025 (n - 1)]`` s extended on both sides by half the difference between its
physical window and 50 ms plus one sample (real samples where the file has them, zeros
beyond). Praat's centred placement then puts its frames exactly at the grid times
``0.025 k + 0.025``; values are nevertheless taken by frame time (linear interpolation, nearest
frame for pitch), never by index, so any remaining offset is handled rather than ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
import pyarrow as pa
from parselmouth.praat import call

from affectflow.errors import CorpusError
from affectflow.features import grid
from affectflow.features.groups import AUDIO_LLDS, N_MFB, N_MFCC
from affectflow.features.wav import read_wav

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 600.0
MEL_WINDOW_S = 0.05
MEL_FIRST_MEL = 100.0
MEL_DISTANCE_MEL = 100.0
INTENSITY_MIN_PITCH_HZ = 64.0

#: Physical window lengths (s) of the three Praat analyses.
_PITCH_PHYSICAL_S = 3.0 / PITCH_FLOOR_HZ
_MEL_PHYSICAL_S = 2.0 * MEL_WINDOW_S
_INTENSITY_PHYSICAL_S = 6.4 / INTENSITY_MIN_PITCH_HZ

AUDIO_SCHEMA = grid.frame_schema(AUDIO_LLDS)


def _pad_samples(physical_s: float, rate: int) -> int:
    """Samples added on each side so an analysis of this window yields exactly the grid frames."""
    return round((physical_s - grid.WINDOW_S) / 2 * rate) + 1


def _sound(x: np.ndarray, rate: int, n: int, pad: int) -> parselmouth.Sound:
    """The grid span of ``x`` extended by ``pad`` samples each side (zeros beyond the file)."""
    span = round(grid.span(n) * rate)
    seg = np.zeros(span + 2 * pad)
    lo, hi = -pad, span + pad
    a, b = max(lo, 0), min(hi, x.size)
    seg[a - lo : b - lo] = x[a:b]
    return parselmouth.Sound(seg, sampling_frequency=rate, start_time=lo / rate)


def _to_grid(src_t: np.ndarray, values: np.ndarray, n: int, nearest: bool) -> np.ndarray:
    """Resample rows ``values[i]`` at times ``src_t[i]`` onto the ``n`` grid frame times."""
    dst = grid.frame_times(n)
    if src_t.size == n and abs(src_t[0] - dst[0]) < 1e-6 and abs(src_t[-1] - dst[-1]) < 1e-6:
        return values  # evenly spaced and the same ends: the same times
    if src_t.size == 1:
        return np.repeat(values, n, axis=0)
    j = np.clip(np.searchsorted(src_t, dst), 1, src_t.size - 1)
    w = np.clip((dst - src_t[j - 1]) / (src_t[j] - src_t[j - 1]), 0.0, 1.0)[:, None]
    if nearest:
        return np.where(w >= 0.5, values[j], values[j - 1])
    return values[j - 1] * (1.0 - w) + values[j] * w


def _pitch(x: np.ndarray, rate: int, n: int, ceiling: float) -> np.ndarray:
    snd = _sound(x, rate, n, _pad_samples(_PITCH_PHYSICAL_S, rate))
    pitch = snd.to_pitch_ac(
        time_step=grid.SHIFT_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=ceiling
    )
    f0 = pitch.selected_array["frequency"].astype(np.float64)
    f0[f0 <= 0] = np.nan
    return _to_grid(pitch.xs(), f0[:, None], n, nearest=True)


def _mel_mfcc_energy(x: np.ndarray, rate: int, n: int) -> tuple[np.ndarray, ...]:
    snd = _sound(x, rate, n, _pad_samples(max(_MEL_PHYSICAL_S, _INTENSITY_PHYSICAL_S), rate))
    mel = call(snd, "To MelSpectrogram", MEL_WINDOW_S, grid.SHIFT_S, MEL_FIRST_MEL,
               MEL_DISTANCE_MEL, 0.0)
    mfb = call(mel, "To Matrix", True)  # dB values, rows = filters
    if mfb.values.shape[0] != N_MFB:
        raise ValueError(f"mel spectrogram has {mfb.values.shape[0]} filters, expected {N_MFB}")
    mfcc = call(mel, "To MFCC", N_MFCC)
    cepstra = call(mfcc, "To Matrix")  # c1..c12 (MFCC.to_array() mis-shapes a single frame)
    intensity = snd.to_intensity(
        minimum_pitch=INTENSITY_MIN_PITCH_HZ, time_step=grid.SHIFT_S, subtract_mean=False
    )
    return (
        _to_grid(cepstra.xs(), cepstra.values.T, n, nearest=False),
        _to_grid(mfb.xs(), mfb.values.T, n, nearest=False),
        _to_grid(intensity.xs(), intensity.values.T, n, nearest=False),
    )


def audio_lld_array(
    x: np.ndarray, rate: int, *, pitch_ceiling: float = PITCH_CEILING_HZ
) -> np.ndarray:
    """The 41 LLDs of samples ``x`` as a float32 ``(n_frames, 41)`` array (AUDIO_LLDS order);
    ``pitch_ceiling`` (Hz) is the pitch analysis's upper limit (the floor stays 60 Hz)."""
    n = grid.n_frames_for_samples(x.size, rate)
    mfcc, mfb, energy = _mel_mfcc_energy(x, rate, n)
    pitch = _pitch(x, rate, n, pitch_ceiling)
    return np.hstack([mfcc, mfb, pitch, energy]).astype(np.float32)


def _audio_table(
    wav_path: str | Path, utt_id: str, pitch_ceiling: float = PITCH_CEILING_HZ
) -> pa.Table:
    x, rate = read_wav(wav_path)
    try:
        values = audio_lld_array(x, rate, pitch_ceiling=pitch_ceiling)
    except parselmouth.PraatError as err:
        raise CorpusError(wav_path, f"Praat analysis failed: {err}") from err
    return grid.frame_table(utt_id, values, AUDIO_SCHEMA)


def extract_audio_lld(wav_path: str | Path, utt_id: str) -> pd.DataFrame:
    """Frame-level audio LLDs of one corpus wav: utt_id, frame, time, then AUDIO_LLDS."""
    return _audio_table(wav_path, utt_id).to_pandas()


def extract_session_audio(
    utterances: pd.DataFrame,
    out_path: str | Path,
    strict: bool,
    *,
    log_every: int = 100,
    label: str | None = None,
    pitch_ceiling: float = PITCH_CEILING_HZ,
) -> pd.DataFrame:
    """Write the audio LLDs of ``utterances`` (columns utt_id, wav) to one zstd Parquet file.

    Utterances are read and analysed one at a time and written in row groups, so a session's
    audio is never in memory at once; the file appears only when complete. A bad wav raises
    CorpusError in ``strict`` mode; otherwise the utterance is left out and returned in the
    excluded table (utt_id, file, line, reason). A progress line is logged
    every ``log_every`` utterances (``label`` defaults to the output folder's name).
    ``pitch_ceiling``: upper limit (Hz) of the pitch analysis (config ``lld.pitch_ceiling``).
    """
    label = label or Path(out_path).parent.name
    rows = utterances[["utt_id", "wav"]].itertuples(index=False)
    jobs = ((u, lambda u=u, w=w: _audio_table(w, u, pitch_ceiling)) for u, w in rows)
    return grid.write_session(
        out_path, AUDIO_SCHEMA, jobs, len(utterances), strict, f"audio {label}", log_every
    )
