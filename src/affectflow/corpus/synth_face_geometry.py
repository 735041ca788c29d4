"""Static tables of the synthetic face: the average face's marker positions and the
displacement fields (emotional, articulatory, blink) per unit weight, mirrored left to right.

Separate from :mod:`.synth_face` because both the face model there and the non-emotional
motion of :mod:`.synth_face_motion` (mannerisms, occlusions) need the geometry; keeping it here
avoids an import cycle. Pure data and its construction, no random draws.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from affectflow.corpus.layout import MARKER_NAMES

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
