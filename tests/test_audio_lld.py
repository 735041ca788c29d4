"""Audio LLDs: values equal direct Praat calls on the grid, pitch sanity, wav validation."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import parselmouth
import pyarrow.parquet as pq
import pytest
from parselmouth.praat import call

from affectflow.errors import CorpusError
from affectflow.features import audio, grid
from affectflow.features.groups import AUDIO_LLDS, MFB_NAMES, MFCC_NAMES
from affectflow.features.wav import read_wav, read_wav_any

SR = 16_000
TONE_END, NOISE_END = 1.2, 1.6  # 200 Hz harmonic tone, then noise, then digital silence


def write_wav(path: Path, x: np.ndarray, rate: int = SR, channels: int = 1) -> Path:
    """16-bit PCM wav from float samples in [-1, 1] (interleaved if several channels)."""
    pcm = np.clip(np.round(np.asarray(x) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def make_signal(duration: float) -> np.ndarray:
    t = np.arange(round(duration * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 200 * t) + 0.15 * np.sin(2 * np.pi * 400 * t + 0.3)
    x += 0.05 * np.sin(2 * np.pi * 600 * t + 1.0)
    noise = np.random.default_rng(0).normal(0.0, 0.1, t.size)
    x = np.where(t < TONE_END, x, np.where(t < NOISE_END, noise, 0.0))
    return x


@pytest.fixture(scope="module")
def wav_2s(tmp_path_factory) -> Path:
    """2.0 s: exactly 79 frames, the grid span equals the file."""
    return write_wav(tmp_path_factory.mktemp("a") / "Ses01F_impro01_F000.wav", make_signal(2.0))


@pytest.fixture(scope="module")
def wav_odd(tmp_path_factory) -> Path:
    """2.013 s: the grid (79 frames) ends 13 ms before the file."""
    return write_wav(tmp_path_factory.mktemp("b") / "Ses01F_impro01_F001.wav", make_signal(2.013))


@pytest.fixture(scope="module")
def lld_2s(wav_2s: Path) -> pd.DataFrame:
    return audio.extract_audio_lld(wav_2s, "Ses01F_impro01_F000")


def test_columns_types_and_grid(lld_2s: pd.DataFrame) -> None:
    assert list(lld_2s.columns) == ["utt_id", "frame", "time", *AUDIO_LLDS]
    assert len(AUDIO_LLDS) == 41
    assert lld_2s["frame"].dtype == np.int32 and lld_2s["time"].dtype == np.float32
    assert all(lld_2s[c].dtype == np.float32 for c in AUDIO_LLDS)
    assert len(lld_2s) == 79 == grid.n_frames(2.0)
    np.testing.assert_allclose(lld_2s["time"], grid.frame_times(79), atol=1e-6)
    assert (lld_2s["utt_id"] == "Ses01F_impro01_F000").all()
    assert np.isfinite(lld_2s.drop(columns=["utt_id", "pitch"]).to_numpy()).all()


def test_pitch_of_200hz_tone_and_nan_when_unvoiced(lld_2s: pd.DataFrame) -> None:
    t, f0 = lld_2s["time"].to_numpy(), lld_2s["pitch"].to_numpy()
    tone = (t > 0.1) & (t < TONE_END - 0.1)
    np.testing.assert_allclose(f0[tone], 200.0, atol=1.0)
    assert np.isnan(f0[(t > TONE_END + 0.06) & (t < NOISE_END - 0.06)]).all()  # noise
    assert np.isnan(f0[t > NOISE_END + 0.06]).all()  # silence


def test_energy_drops_in_silence(lld_2s: pd.DataFrame) -> None:
    t, e = lld_2s["time"].to_numpy(), lld_2s["energy"].to_numpy()
    tone_db = np.median(e[(t > 0.1) & (t < 1.1)])
    # 0.3 amplitude tone: about 20 log10(0.34 / 2e-5) = 85 dB
    assert 80 < tone_db < 90
    assert e[t > NOISE_END + 0.1].max() < tone_db - 100


def _direct(wav: Path, n: int) -> dict[str, np.ndarray]:
    """The same analyses with Praat reading the file and cutting the padded grid span itself."""
    snd = parselmouth.Sound(str(wav))
    span = grid.span(n)

    def part(pad: int) -> parselmouth.Sound:
        return snd.extract_part(
            from_time=-pad / SR,
            to_time=span + pad / SR,
            window_shape=parselmouth.WindowShape.RECTANGULAR,
            relative_width=1.0,
            preserve_times=True,
        )

    pitch = part(1).to_pitch_ac(time_step=0.025, pitch_floor=60.0, pitch_ceiling=600.0)
    wide = part(401)
    mel = call(wide, "To MelSpectrogram", 0.05, 0.025, 100.0, 100.0, 0.0)
    power = call(mel, "To Matrix", False).values
    with np.errstate(divide="ignore"):
        mfb_db = 10 * np.log10(power / 4e-10)
    intensity = wide.to_intensity(minimum_pitch=64.0, time_step=0.025, subtract_mean=False)
    f0 = pitch.selected_array["frequency"]
    mfcc = call(mel, "To MFCC", 12)
    return {
        "times": [pitch.xs(), mfcc.xs(), intensity.xs()],
        "pitch": np.where(f0 > 0, f0, np.nan),
        "mfcc": mfcc.to_array()[1:].T,
        "mfb": mfb_db.T,
        "energy": intensity.values[0],
    }


@pytest.mark.parametrize("which", ["wav_2s", "wav_odd"])
def test_values_equal_direct_praat_calls_at_the_same_times(which: str, request) -> None:
    wav = request.getfixturevalue(which)
    ours = audio.extract_audio_lld(wav, "u")
    n = len(ours)
    ref = _direct(wav, n)
    for times in ref["times"]:  # Praat's frames sit exactly at the grid times
        np.testing.assert_allclose(times, grid.frame_times(n), atol=1e-9)
    np.testing.assert_allclose(ours["pitch"], ref["pitch"], rtol=1e-5)  # NaN where NaN
    np.testing.assert_allclose(ours[list(MFCC_NAMES)], ref["mfcc"], rtol=1e-5, atol=1e-3)
    finite = ref["mfb"] > -290  # digital silence: Praat floors at -300 dB
    np.testing.assert_allclose(
        ours[list(MFB_NAMES)].to_numpy()[finite], ref["mfb"][finite], rtol=1e-5
    )
    assert (ours[list(MFB_NAMES)].to_numpy()[~finite] == -300).all()
    np.testing.assert_allclose(ours["energy"], ref["energy"], rtol=1e-5)


def test_pitch_equals_praat_on_the_whole_file_when_it_spans_the_grid(wav_2s, lld_2s) -> None:
    pitch = parselmouth.Sound(str(wav_2s)).to_pitch_ac(
        time_step=0.025, pitch_floor=60.0, pitch_ceiling=600.0
    )
    np.testing.assert_allclose(pitch.xs(), lld_2s["time"], atol=1e-6)
    f0 = pitch.selected_array["frequency"]
    np.testing.assert_allclose(lld_2s["pitch"], np.where(f0 > 0, f0, np.nan), rtol=1e-5)


def test_very_short_file_gives_one_frame(tmp_path) -> None:
    wav = write_wav(tmp_path / "short.wav", make_signal(0.06))
    df = audio.extract_audio_lld(wav, "u")
    assert len(df) == 1 and df["time"].iloc[0] == pytest.approx(0.025)


# --- wav validation ---------------------------------------------------------------------------


def _bad_wavs(d: Path) -> dict[str, tuple[Path, str]]:
    x = make_signal(0.5)
    stereo = write_wav(d / "stereo.wav", np.repeat(x, 2), channels=2)
    rate = write_wav(d / "rate.wav", x, rate=44_100)
    trunc = write_wav(d / "trunc.wav", x)
    trunc.write_bytes(trunc.read_bytes()[:-1000])
    empty = write_wav(d / "empty.wav", np.zeros(0))
    short = write_wav(d / "short.wav", x[:700])
    junk = d / "junk.wav"
    junk.write_bytes(b"this is not audio at all")
    return {
        "stereo": (stereo, "wrong format: 16-bit PCM, stereo, 16000 Hz"),
        "rate": (rate, "wrong format: 16-bit PCM, mono, 44100 Hz"),
        "trunc": (trunc, "truncated: header declares 16000 data bytes, file holds 15000"),
        "empty": (empty, "empty: no samples"),
        "short": (short, "too short: 700 samples"),
        "junk": (junk, "not a RIFF/WAVE file"),
    }


def test_bad_wavs_strict_name_the_file(tmp_path) -> None:
    for path, reason in _bad_wavs(tmp_path).values():
        with pytest.raises(CorpusError) as info:
            audio.extract_audio_lld(path, "u")
        assert str(info.value).startswith(f"{path}: ")
        assert reason in str(info.value)


def test_session_lenient_excludes_bad_wavs_with_reason(tmp_path, wav_2s, caplog) -> None:
    bad = _bad_wavs(tmp_path)
    utts = pd.DataFrame(
        {"utt_id": ["good", *bad], "wav": [str(wav_2s), *(str(p) for p, _ in bad.values())]}
    )
    out = tmp_path / "Ses01" / "audio.parquet"
    with caplog.at_level("INFO", logger="affectflow"):
        excl = audio.extract_session_audio(utts, out, strict=False, log_every=3)
    lines = caplog.messages
    assert list(excl["utt_id"]) == list(bad)
    for (path, reason), row in zip(bad.values(), excl.itertuples(), strict=True):
        assert row.file == str(path) and reason in row.reason
    table = pq.read_table(out)
    assert set(table.column("utt_id").to_pylist()) == {"good"} and table.num_rows == 79
    assert "audio Ses01: 3/7 utterances" in lines and lines[-1] == "audio Ses01: 7/7 utterances"


def test_session_strict_raises_and_leaves_no_file(tmp_path, wav_2s) -> None:
    bad = _bad_wavs(tmp_path)["trunc"][0]
    utts = pd.DataFrame({"utt_id": ["a", "b"], "wav": [str(wav_2s), str(bad)]})
    out = tmp_path / "out" / "audio.parquet"
    with pytest.raises(CorpusError, match="trunc.wav"):
        audio.extract_session_audio(utts, out, strict=True)
    assert list(out.parent.iterdir()) == []


def test_read_wav_scaling(tmp_path) -> None:
    path = write_wav(tmp_path / "x.wav", np.array([0.0, 0.5, -1.0, 1.0] * 300))
    x, rate = read_wav(path)
    assert rate == SR and x.dtype == np.float64
    np.testing.assert_allclose(x[:4], [0.0, 16384 / 32768, -32767 / 32768, 32767 / 32768])


def _float_stereo_wav(path: Path, x: np.ndarray, rate: int) -> Path:
    data = np.repeat(x, 2).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 2, rate, rate * 8, 8, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_read_wav_any_converts_with_notice(tmp_path, caplog) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    path = _float_stereo_wav(tmp_path / "user.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    with pytest.raises(CorpusError, match="wrong format"):
        read_wav(path)
    with caplog.at_level("INFO", logger="affectflow"):
        x, sr = read_wav_any(path)
    notes = caplog.messages
    assert sr == SR and x.size == SR
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) == 440  # 1 s of signal: bin = Hz
    assert len(notes) == 1 and str(path) in notes[0]
    assert "mono" in notes[0] and "44100 Hz -> 16000 Hz" in notes[0]
    caplog.clear()
    with caplog.at_level("INFO", logger="affectflow"):
        y, _ = read_wav_any(path, announce=False)
    assert not caplog.messages and np.array_equal(x, y)


def test_to_grid_aligns_by_time_not_index() -> None:
    # Praat-like frames 10 ms off the grid and one frame short at each edge
    src_t = grid.frame_times(6)[1:-1] + 0.01
    values = np.column_stack([src_t * 100, [100.0, np.nan, 300.0, 400.0]])
    lin = audio._to_grid(src_t, values[:, :1], 6, nearest=False)[:, 0]
    np.testing.assert_allclose(lin, [6.0, 6.0, 7.5, 10.0, 12.5, 13.5])  # edges held
    nearest = audio._to_grid(src_t, values[:, 1:], 6, nearest=True)[:, 0]
    np.testing.assert_array_equal(nearest, [100.0, 100.0, np.nan, 300.0, 400.0, 400.0])
