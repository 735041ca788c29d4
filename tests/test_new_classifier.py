"""Adding a classifier is one registry entry plus its estimator (docs/architecture.md, "How to
add a classifier"): in a copy of the project whose only changes are two registry lines and a new
estimator module, a class-prior classifier runs through the cross-validation DAG, the metrics,
the results tables, a final-model bundle and ``affectflow predict``.

The copy reuses the tiny end-to-end run's corpus and LLDs (copied files, no Snakemake metadata:
Snakemake takes them as up to date), so the DAG runs from the folds on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SNAKEMAKE, make_workdir, real_run_env, tiny_config

REPO = Path(__file__).resolve().parents[1]
TASK = "valence3"

#: The new family and classifier, as they are added to affectflow/registry.py.
FAMILY_LINE = ('    Family("prior", "Prior", "rows", "training", "model.json",\n'
               '           "affectflow.models.prior:PriorClassifier"),\n')
CLASSIFIER_LINE = '    Classifier("prior_vf", "prior", "vf", "train_prior", True),\n'

#: The new estimator: every utterance gets the training class frequencies (a chance baseline).
ESTIMATOR = '''"""A class-prior classifier: the training class frequencies for every utterance."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator


class PriorClassifier(BaseEstimator):
    def __init__(self, smoothing: float = 1.0) -> None:
        self.smoothing = smoothing

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], seed: int) -> PriorClassifier:
        return cls(**settings)

    def fit(self, X: np.ndarray, y: np.ndarray) -> PriorClassifier:
        counts = np.bincount(np.asarray(y, dtype=np.int64)) + self.smoothing
        self.prior_ = counts / counts.sum()
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def class_scores(self, X: np.ndarray, n_classes: int) -> np.ndarray:
        out = np.zeros((len(X), n_classes))
        out[:, : len(self.prior_)] = self.prior_
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"smoothing": self.smoothing,
                                          "prior": self.prior_.tolist(),
                                          "n_features_in": self.n_features_in_}))

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> PriorClassifier:
        state = json.loads(Path(path).read_text())
        model = cls(state["smoothing"])
        model.prior_ = np.asarray(state["prior"])
        model.n_features_in_ = state["n_features_in"]
        return model
'''

_COPIED = ("Snakefile", "config.yaml", "workflow", "src", "envs", "profiles")


def _copy_project(dest: Path) -> Path:
    """The project's workflow and package, with the new classifier added."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in _COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    registry = dest / "src" / "affectflow" / "registry.py"
    text = registry.read_text()
    for anchor, line in (("_FAMILIES: tuple[Family, ...] = (\n", FAMILY_LINE),
                         ("_CLASSIFIERS: tuple[Classifier, ...] = (\n", CLASSIFIER_LINE)):
        assert text.count(anchor) == 1, anchor
        text = text.replace(anchor, anchor + line)
    registry.write_text(text)
    (dest / "src" / "affectflow" / "models" / "prior.py").write_text(ESTIMATOR)
    return dest


def _changed_files(copy: Path) -> set[str]:
    """Files of the copy that differ from (or are absent in) the project."""
    changed = set()
    for path in copy.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(copy)
            original = REPO / rel
            if not original.is_file() or original.read_bytes() != path.read_bytes():
                changed.add(rel.as_posix())
    return changed


@pytest.fixture(scope="module")
def extended_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project copy, workdir) after a run with ``prior_vf`` and ``svm_vf`` on valence."""
    copy = _copy_project(tmp_path_factory.mktemp("extended_project"))
    config = tiny_config(
        tasks={TASK: ["svm_vf", "prior_vf"]},
        final={"tasks": [TASK], "classifiers": ["prior_vf"]},
    )
    workdir = make_workdir(tmp_path_factory.mktemp("extended_run"), config)
    for part in ("resources", "results/index", "results/lld"):
        shutil.copytree(tiny_run / part, workdir / part)
    env = dict(real_run_env(None), PYTHONPATH=str(copy / "src"))
    proc = subprocess.run(
        [str(SNAKEMAKE), "-s", str(copy / "Snakefile"), "-d", str(workdir), "--cores", "2"],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return copy, workdir


def test_the_copy_differs_only_by_the_registry_and_the_estimator(
    extended_run: tuple[Path, Path],
) -> None:
    copy, _ = extended_run
    assert _changed_files(copy) == {"src/affectflow/registry.py",
                                    "src/affectflow/models/prior.py"}


def test_the_new_classifier_is_cross_validated_and_tabled(
    extended_run: tuple[Path, Path],
) -> None:
    _, workdir = extended_run
    res = workdir / "results"
    folds = sorted(p.name for p in (res / "models" / TASK / "svm_vf").iterdir())
    assert folds and folds == sorted(p.name for p in (res / "models" / TASK / "prior_vf").iterdir())
    assert (workdir / "logs" / "models" / "prior_vf" / f"{folds[0]}.log").is_file()
    for fold in folds:
        pred = pd.read_parquet(res / "models" / TASK / "prior_vf" / fold / "predictions.parquet")
        proba = pred.filter(like="p_").to_numpy()
        # one prior per fold: every test utterance gets the same scores
        assert len(pred) and np.allclose(proba, proba[0])
    per_fold = pd.read_parquet(res / "metrics" / "per_fold.parquet")
    prior = per_fold[per_fold["classifier"] == "prior_vf"]
    assert sorted(prior["fold"]) == folds and prior["f1"].notna().all()
    table = pd.read_csv(res / "tables" / "table2.csv")
    assert "Prior" in set(table["classifier"]) and "SVM" in set(table["classifier"])


def test_the_new_classifier_makes_a_bundle_that_predicts(
    extended_run: tuple[Path, Path], tmp_path: Path
) -> None:
    copy, workdir = extended_run
    bundle = workdir / "results" / "final" / TASK / "prior_vf"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["family"] == "prior"
    prior = np.asarray(json.loads((bundle / "model.json").read_text())["prior"])
    index = pd.read_parquet(workdir / "results" / "index" / "utterances.parquet")
    dialog = index[index["dialog"] == index["dialog"].iloc[0]].head(3)
    inputs = tmp_path / "inputs.csv"
    pd.DataFrame({"conversation": "c1", "utterance": dialog["utt_id"], "wav": dialog["wav"],
                  "mocap": dialog["mocap"]}).to_csv(inputs, index=False)
    out = tmp_path / "pred.csv"
    env = dict(os.environ, PYTHONPATH=str(copy / "src"))
    subprocess.run(
        [sys.executable, "-m", "affectflow.cli", "predict", "--bundle", str(bundle),
         "--input", str(inputs), "--out", str(out), "--no-progress"],
        check=True, env=env, capture_output=True, text=True,
    )
    pred = pd.read_csv(out)
    assert len(pred) == 3
    np.testing.assert_allclose(pred.filter(like="p_").to_numpy(), np.tile(prior, (3, 1)))
