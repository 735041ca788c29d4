"""Face model of the synthetic corpus: 55 markers in IEMOCAP's MOCAP_rotated frame.

Coordinates are in mm in a head-fixed frame (x: towards the actor's left, y: up, z: forward),
with the nose tip (TNOSE) near, but not exactly at, the origin. A frame is

    base geometry (per speaker) + sum_k w_k(t) * field_k (per speaker) + head jitter + noise

with four displacement fields: smile (valence > 0: mouth corners up and out, cheeks raised),
frown (valence < 0: inner brows down and together, mouth corners down, chin raised), brow
raise (activation; negative weight lowers the brows) and jaw opening (follows the speech
envelope while the wearer talks). Per-speaker geometry differs by several mm per marker, more
than the emotional displacements, which is why the paper normalises face features per speaker.

:func:`format_mocap` turns frames into the file's text quickly: values are quantised to
0.001 mm, mapped to fixed-width byte tokens through lookup tables, and padding is removed in
one vectorised pass (about 8 GB of text at IEMOCAP scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from affectflow.corpus.layout import MARKER_NAMES, MOCAP_HEADER_LINE1, MOCAP_HEADER_LINE2

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
}
FIELD_NAMES: tuple[str, ...] = tuple(_FIELDS)
_INDEX = {m: i for i, m in enumerate(MARKER_NAMES)}


@dataclass(frozen=True)
class Face:
    """One actor's face: geometry and how strongly it expresses."""

    base: np.ndarray  # (55, 3) mm
    fields: np.ndarray  # (4, 165) displacement per unit weight, FIELD_NAMES order
    expressivity: float
    head_motion: float  # sd (mm) of the residual head translation


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
    return Face(
        base=base,
        fields=fields.reshape(len(FIELD_NAMES), -1),
        expressivity=float(rng.uniform(0.8, 1.2)),
        head_motion=float(rng.uniform(0.2, 0.5)),
    )


def ar1(rng: np.random.Generator, n: int, rho: float, size: int = 1) -> np.ndarray:
    """(n, size) stationary AR(1) noise with unit variance and lag-1 correlation ``rho``."""
    x = rng.standard_normal((n, size))
    zi = rho * rng.standard_normal((1, size))
    y, _ = lfilter([np.sqrt(1 - rho * rho)], [1.0, -rho], x, axis=0, zi=zi)
    return y


def face_frames(
    rng: np.random.Generator,
    face: Face,
    valence: float,
    activation: float,
    mouth: np.ndarray,
) -> np.ndarray:
    """(n, 165) marker coordinates for one utterance, without gaps.

    ``valence``/``activation`` are the wearer's latent state (1..5); ``mouth`` is the jaw
    opening per frame (0 closed .. about 1.5), its length fixes the frame count.
    """
    n = len(mouth)
    v = (valence - 3.0) / 2.0 + 0.08 * ar1(rng, n, 0.995)[:, 0]
    a = (activation - 3.0) / 2.0 + 0.08 * ar1(rng, n, 0.995)[:, 0]
    weights = np.column_stack(
        [
            face.expressivity * np.maximum(v, 0.0),
            face.expressivity * np.maximum(-v, 0.0),
            face.expressivity * np.where(a > 0, a, 0.6 * a),
            mouth,
        ]
    )
    # einsum, not BLAS: the generated corpus must not depend on the machine's BLAS kernel
    # (a last-bit difference could flip a rounded digit of the MOCAP text).
    coords = face.base.reshape(1, -1) + np.einsum("nk,kd->nd", weights, face.fields)
    head = face.head_motion * (1.0 + 0.5 * (activation - 3.0) / 2.0) * ar1(rng, n, 0.98, 3)
    coords += np.tile(head, len(MARKER_NAMES))
    coords += rng.normal(0.0, 0.12, coords.shape)
    return coords


def listening_mouth(rng: np.random.Generator, n: int) -> np.ndarray:
    """Jaw opening of a listener: small, slow movements (back-channels, breathing)."""
    return 0.08 * np.abs(ar1(rng, n, 0.97)[:, 0])


def add_gaps(rng: np.random.Generator, coords: np.ndarray, duration: float) -> None:
    """Blank out markers (NaN) in place: short 1-10 frame gaps, rarely a long one or a frame."""
    n = len(coords)
    xyz = coords.reshape(n, len(MARKER_NAMES), 3)
    for _ in range(rng.poisson(0.6 * duration)):
        start, length = rng.integers(0, n), rng.integers(1, 11)
        xyz[start : start + length, rng.integers(0, len(MARKER_NAMES))] = np.nan
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
