"""Names of the low-level descriptors and the feature groups of the paper's Table 1.

This is the one place that maps a channel (an LLD, a face coordinate, or its delta) to its
group: pitch, energy, MFCC, MFB, lower face, upper face.

Face regions follow the IEMOCAP marker layout: forehead (FH*), eyebrows (LBRO*, RBRO*) and the
brow markers LBM*/RBM* form the upper face; chin (CH*), cheeks (LC*, RC*) and mouth (Mou*) the
lower face.
"""

from __future__ import annotations

from affectflow.corpus.layout import FACE_MARKERS

N_MFCC = 12
N_MFB = 27

MFCC_NAMES: tuple[str, ...] = tuple(f"mfcc_{i}" for i in range(1, N_MFCC + 1))
MFB_NAMES: tuple[str, ...] = tuple(f"mfb_{i}" for i in range(1, N_MFB + 1))
#: The 41 audio LLDs, in column order of ``audio.parquet``.
AUDIO_LLDS: tuple[str, ...] = (*MFCC_NAMES, *MFB_NAMES, "pitch", "energy")
#: The 29 LLDs of the paper's voice HMMs (27 MFB, pitch, energy); deltas make 58.
HMM_VOICE_LLDS: tuple[str, ...] = (*MFB_NAMES, "pitch", "energy")
#: The 138 face coordinates, in column order of ``face.parquet``.
FACE_COORDS: tuple[str, ...] = tuple(f"{m}_{a}" for m in FACE_MARKERS for a in "xyz")

DELTA_SUFFIX = "_d"
GROUPS: tuple[str, ...] = ("pitch", "energy", "MFCC", "MFB", "lower face", "upper face")

_UPPER_FACE_PREFIXES = ("FH", "LBRO", "RBRO", "LBM", "RBM")
_LOWER_FACE_PREFIXES = ("CH", "LC", "RC", "Mou")


def marker_region(marker: str) -> str:
    """``"upper face"`` or ``"lower face"`` for one of the 46 face markers."""
    if marker.startswith(_UPPER_FACE_PREFIXES):
        return "upper face"
    if marker.startswith(_LOWER_FACE_PREFIXES):
        return "lower face"
    raise ValueError(f"{marker!r} is not one of the 46 face markers")


def channel_group(channel: str) -> str:
    """Table-1 group of a channel name such as ``mfb_3``, ``pitch_d`` or ``Mou2_y_d``.

    Functional column names (``<channel>__<functional>``) are accepted too.
    """
    base = channel.split("__", 1)[0]
    if base.endswith(DELTA_SUFFIX):
        base = base[: -len(DELTA_SUFFIX)]
    if base == "pitch":
        return "pitch"
    if base == "energy":
        return "energy"
    if base.startswith("mfcc_"):
        return "MFCC"
    if base.startswith("mfb_"):
        return "MFB"
    marker, _, axis = base.rpartition("_")
    if axis in ("x", "y", "z") and marker in FACE_MARKERS:
        return marker_region(marker)
    raise ValueError(f"cannot tell the feature group of channel {channel!r}")


def is_face_channel(channel: str) -> bool:
    """Whether a channel (or functional column) comes from the face markers."""
    return channel_group(channel) in ("lower face", "upper face")
