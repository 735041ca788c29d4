"""Test helpers for parity with Debian's Weka 3.6: ARFF writing and running Weka's SMO.

Tests write the very numbers they pass to our code (``repr`` of each float is the shortest
string that parses back to the same double in Python and Java alike).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

WEKA_JAR = Path("/usr/share/java/weka.jar")


def weka_missing_reason() -> str | None:
    """Why Weka parity tests cannot run here, or None when java and weka.jar are present."""
    if shutil.which("java") is None:
        return "java is not on PATH (apt-get install default-jre-headless)"
    if not WEKA_JAR.exists():
        return f"{WEKA_JAR} is missing (apt-get install weka)"
    return None


requires_weka = pytest.mark.skipif(
    weka_missing_reason() is not None, reason=weka_missing_reason() or ""
)


def write_arff(path: Path, X: np.ndarray, y: np.ndarray, n_classes: int) -> None:
    """Numeric attributes ``a0..`` and a nominal class ``{c0, .., c<k-1>}`` (y = class index)."""
    lines = ["@relation parity", ""]
    lines += [f"@attribute a{k} numeric" for k in range(X.shape[1])]
    lines.append("@attribute class {" + ",".join(f"c{k}" for k in range(n_classes)) + "}")
    lines += ["", "@data"]
    for row, label in zip(X, y, strict=True):
        lines.append(",".join(repr(float(v)) for v in row) + f",c{int(label)}")
    Path(path).write_text("\n".join(lines) + "\n")


_PRED = re.compile(r"^\s*(\d+)\s+(\d+):\S+\s+(\d+):\S+")


def weka_smo_predict(train: Path, test: Path, timeout: float = 120.0) -> np.ndarray:
    """Class indices (0-based) Weka's default SMO predicts for ``test`` after training."""
    cmd = [
        "java", "-Xmx1g", "-cp", str(WEKA_JAR), "weka.classifiers.functions.SMO",
        "-t", str(train), "-T", str(test), "-p", "0",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout
    preds = {}
    for line in out.splitlines():
        m = _PRED.match(line)
        if m:
            preds[int(m.group(1))] = int(m.group(3)) - 1
    if not preds:
        raise RuntimeError(f"no predictions in Weka's output:\n{out[:2000]}")
    return np.asarray([preds[k] for k in sorted(preds)], dtype=np.int64)
