"""Write and read the small subset of ARFF that the Weka parity checks need.

Values are written in Python's shortest round-trip form (``repr``), which Java's
``Double.valueOf`` parses back to the identical double, so Weka and affectflow see exactly the
same data. NaN is written as ``?`` (missing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _quote(name: str) -> str:
    """Quote an attribute or value name unless it is a plain identifier."""
    if _PLAIN_NAME.match(name):
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _format_row(row: list[float], label: str) -> str:
    """One data line: values in round-trip form, ``?`` for NaN, then the class label."""
    cells = ["?" if v != v else repr(v) for v in row]
    cells.append(label)
    return ",".join(cells)


def write_arff(
    path: str | Path,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    relation: str = "affectflow",
) -> Path:
    """Write ``X`` (numeric features, NaN = missing) and nominal class ``y`` (ints) as ARFF.

    The class is the last attribute, as Weka's command-line tools expect. ``class_names``
    defaults to ``c0..c{C-1}`` with ``C = max(y) + 1``; every declared class value counts for
    Weka even when no instance carries it.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D with one label per row; got {X.shape} and {y.shape}")
    if np.isinf(X).any():
        raise ValueError("ARFF cannot carry infinite values; use NaN for missing")
    names = (
        list(feature_names) if feature_names is not None else [f"f{j}" for j in range(X.shape[1])]
    )
    n_classes = int(y.max()) + 1 if y.size else 1
    labels = list(class_names) if class_names is not None else [f"c{c}" for c in range(n_classes)]
    if len(names) != X.shape[1] or len(labels) < n_classes:
        raise ValueError("feature_names / class_names do not match X / y")
    quoted = [_quote(lab) for lab in labels]
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"@relation {_quote(relation)}\n\n")
        for name in names:
            fh.write(f"@attribute {_quote(name)} numeric\n")
        fh.write(f"@attribute class {{{','.join(quoted)}}}\n\n@data\n")
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            fh.write(_format_row(row, quoted[label]) + "\n")
    return path


def read_arff_nominal_codes(path: str | Path) -> np.ndarray:
    """Read an ARFF whose attributes are all nominal; return each value's index (-1 = ``?``).

    Used to compare Weka's discretised output with ours. Values must not contain commas.
    """
    declared: list[dict[str, int]] = []
    rows: list[list[int]] = []
    in_data = False
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        if in_data:
            cells = [c.strip().strip("'\"") for c in line.split(",")]
            rows.append([-1 if c == "?" else declared[j][c] for j, c in enumerate(cells)])
        elif line.lower().startswith("@attribute"):
            body = line[line.index("{") + 1 : line.rindex("}")]
            values = [v.strip().strip("'\"") for v in body.split(",")]
            declared.append({v: k for k, v in enumerate(values)})
        elif line.lower().startswith("@data"):
            in_data = True
    return np.asarray(rows, dtype=np.int64)
