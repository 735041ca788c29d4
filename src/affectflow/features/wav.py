"""Reading and validating wav files.

The corpus contract is 16-bit PCM, mono, 16 kHz. :func:`read_wav` enforces it and raises a
:class:`~affectflow.errors.CorpusError` naming the file for a wrong format, a truncated file (the
header declares more data than the file holds) or an empty one (no samples, or fewer than one
50 ms frame). :func:`read_wav_any` is for user recordings at prediction time: it accepts other
sample rates, channel counts and sample formats and converts them, reporting what it did.

The RIFF header is parsed here rather than with the stdlib ``wave`` module, because ``wave``
silently returns fewer samples for a truncated file instead of reporting it.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from affectflow.corpus.layout import SAMPLE_RATE
from affectflow.errors import CorpusError
from affectflow.features.grid import WINDOW_S

logger = logging.getLogger(__name__)

PCM = 1
IEEE_FLOAT = 3
EXTENSIBLE = 0xFFFE
#: Fewest samples of a usable 16 kHz file: one 50 ms frame.
MIN_SAMPLES = round(WINDOW_S * SAMPLE_RATE)


@dataclass(frozen=True)
class WavInfo:
    """What a wav header says, and how much sample data the file really holds."""

    path: str
    format_tag: int  # PCM or IEEE_FLOAT (an EXTENSIBLE header's sub-format is resolved)
    channels: int
    rate: int
    bits: int
    data_offset: int
    n_samples: int  # sample frames per channel

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.n_samples / self.rate

    def describe(self) -> str:
        """``16-bit PCM, mono, 16000 Hz`` style summary."""
        kind = {PCM: "PCM", IEEE_FLOAT: "float"}.get(self.format_tag, f"format {self.format_tag}")
        chans = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return f"{self.bits}-bit {kind}, {chans}, {self.rate} Hz"


def probe_wav(path: str | Path) -> WavInfo:
    """Parse a wav header (samples not read); CorpusError if malformed or truncated."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            return _parse_header(fh, size, str(p))
    except OSError as err:
        raise CorpusError(p, f"cannot read wav file: {err.strerror or err}") from err


def _parse_header(fh, size: int, name: str) -> WavInfo:
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise CorpusError(name, "not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(fh.read(min(chunk_size, 40)), name)
        elif chunk_id == b"data":
            if fmt is None:
                raise CorpusError(name, "data chunk before the fmt chunk")
            return _data_info(name, fmt, body, chunk_size, size - body)
        pos = body + chunk_size + (chunk_size & 1)
    if fmt is None:
        raise CorpusError(name, "no fmt chunk")
    raise CorpusError(name, "no data chunk (empty file)")


def _parse_fmt(raw: bytes, name: str) -> tuple[int, int, int, int]:
    if len(raw) < 16:
        raise CorpusError(name, f"fmt chunk too short ({len(raw)} bytes)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", raw[:16])
    if tag == EXTENSIBLE and len(raw) >= 26:
        tag = struct.unpack("<H", raw[24:26])[0]  # first two bytes of the sub-format GUID
    return tag, channels, rate, bits


def _data_info(
    name: str, fmt: tuple[int, int, int, int], offset: int, declared: int, present: int
) -> WavInfo:
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1 or bits < 8 or bits % 8:
        raise CorpusError(name, f"invalid fmt chunk: {channels} channels, {rate} Hz, {bits} bits")
    if present < declared:
        raise CorpusError(
            name, f"truncated: header declares {declared} data bytes, file holds {present}"
        )
    block = channels * bits // 8
    return WavInfo(name, tag, channels, rate, bits, offset, declared // block)


def check_corpus_format(info: WavInfo) -> None:
    """Raise CorpusError unless the file is 16-bit PCM mono 16 kHz with at least one frame."""
    if (info.format_tag, info.bits, info.channels, info.rate) != (PCM, 16, 1, SAMPLE_RATE):
        raise CorpusError(
            info.path, f"wrong format: {info.describe()} (expected 16-bit PCM, mono, 16000 Hz)"
        )
    _check_length(info.path, info.n_samples, info.rate)


def _check_length(name: str, n_samples: int, rate: int) -> None:
    if n_samples == 0:
        raise CorpusError(name, "empty: no samples")
    need = round(WINDOW_S * rate)
    if n_samples < need:
        raise CorpusError(
            name, f"too short: {n_samples} samples, one 50 ms frame needs {need}"
        )


def validate_wav(path: str | Path) -> WavInfo:
    """Header of a corpus wav, checked against the corpus format (CorpusError otherwise)."""
    info = probe_wav(path)
    check_corpus_format(info)
    return info


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (float64 in [-1, 1]) and rate of a corpus wav (16-bit PCM mono 16 kHz)."""
    info = validate_wav(path)
    return _read_samples(info)[:, 0], info.rate


def _read_samples(info: WavInfo) -> np.ndarray:
    """All samples as float64 in [-1, 1], shape (n_samples, channels)."""
    width = info.bits // 8
    count = info.n_samples * info.channels
    with open(info.path, "rb") as fh:
        fh.seek(info.data_offset)
        raw = fh.read(count * width)
    if info.format_tag == IEEE_FLOAT and width in (4, 8):
        x = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float64)
    elif info.format_tag == PCM and width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif info.format_tag == PCM and width in (2, 4):
        x = np.frombuffer(raw, dtype=f"<i{width}") / float(2 ** (8 * width - 1))
    elif info.format_tag == PCM and width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    else:
        raise CorpusError(info.path, f"unsupported sample format: {info.describe()}")
    return np.clip(x, -1.0, 1.0).reshape(-1, info.channels)


def read_wav_any(path: str | Path, announce: bool = True) -> tuple[np.ndarray, int]:
    """Samples (float64 in [-1, 1]) of any PCM/float wav, converted to mono 16 kHz.

    Channels are averaged and other rates resampled with ``scipy.signal.resample_poly``;
    if ``announce``, one warning line (:mod:`logging`) says what was converted.
    """
    info = probe_wav(path)
    x = _read_samples(info)
    done = []
    if info.channels > 1:
        x = x.mean(axis=1, keepdims=True)
        done.append(f"{info.channels} channels averaged to mono")
    x = x[:, 0]
    if info.rate != SAMPLE_RATE and x.size:
        from scipy.signal import resample_poly

        g = gcd(SAMPLE_RATE, info.rate)
        x = np.clip(resample_poly(x, SAMPLE_RATE // g, info.rate // g), -1.0, 1.0)
        done.append(f"resampled {info.rate} Hz -> {SAMPLE_RATE} Hz")
    if info.bits != 16 or info.format_tag != PCM:
        done.append(f"read {info.describe().split(',')[0]} samples")
    if done and announce:
        logger.warning(f"{info.path}: " + "; ".join(done))
    _check_length(info.path, x.size, SAMPLE_RATE)
    return x, SAMPLE_RATE
