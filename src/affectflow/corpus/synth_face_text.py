"""MOCAP_rotated text of the synthetic face: :func:`format_mocap` turns frames into the
file's text quickly: values are quantised to 0.001 mm, mapped to fixed-width byte tokens through
lookup tables, and padding is removed in one vectorised pass (about 8 GB of text at IEMOCAP
scale).

Separate from :mod:`.synth_face` (which re-exports :func:`format_mocap`): serialisation only,
no model and no random draws.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from affectflow.corpus.layout import MOCAP_HEADER_LINE1, MOCAP_HEADER_LINE2

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
