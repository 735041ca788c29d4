"""Two runs with the same config give identical results.

What is covered, against the shared tiny run (copied first; the shared run is never touched):

- test_models_stage_rerun_is_identical: every classifier of every fold and task trained again
  (results/models, metrics and tables deleted; corpus, LLDs and fold artifacts kept), in a
  fresh `snakemake --cores 2` whose jobs run in a different order and pairing than the first
  run's: every predictions.parquet, the per-fold metrics and the result tables are equal
  exactly (no tolerance).
- test_lld_and_fold_stage_rerun_is_identical: one session's audio and face LLD extraction and
  one fold's whole preparation (split, normaliser, PFA, labels, functionals, CFS of every task)
  forced to run again: equal bytes for the LLD, JSON and CSV files; equal values for the
  rest (Parquet and npz files are compared by content, not bytes).

Both runs have the environment of a real run (tests/conftest.py, real_run_env): no
PYTHONHASHSEED, so Snakemake and every job process of the shared run and of the rerun hash
strings with their own random seed; a result that depended on the iteration order of a set of
strings (or anything else ordered by string hashes) would differ between the two.

Together with the corpus generator's own seed tests (tests/test_synth.py) this covers each stage
of the DAG; a whole second run from scratch (about 5 minutes more) is not repeated here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import assert_same_file, run_snakemake

pytestmark = pytest.mark.e2e

SESSION = "Ses03"
FOLD = "Ses03F"
TARGETS = [
    "results/metrics/per_fold.parquet",
    "results/tables/table1.csv",
    "results/tables/table2.csv",
    "results/tables/table3.csv",
]
#: The files of the targets' jobs (make_table1, aggregate_metrics, make_tables).
COMPARED = [
    "results/metrics/per_fold.parquet",
    *(f"results/tables/{name}" for name in ("table1.csv", "table1.md", "table2.csv",
      "table2.md", "table3.csv", "table3.md", "significance.csv")),
]  # fmt: skip


def copy_run(tiny_run: Path, dest: Path) -> Path:
    shutil.copytree(tiny_run, dest, symlinks=True)
    return dest


def test_models_stage_rerun_is_identical(tiny_run: Path, tmp_path: Path) -> None:
    work = copy_run(tiny_run, tmp_path / "run")
    for sub in ("models", "metrics", "tables"):
        shutil.rmtree(work / "results" / sub)
    run_snakemake(work, *TARGETS, "--cores", "2")

    predictions = sorted((tiny_run / "results/models").rglob("predictions.parquet"))
    assert predictions
    for path in predictions:
        rel = path.relative_to(tiny_run)
        assert_same_file(work / rel, path)
    for rel in COMPARED:
        assert_same_file(work / rel, tiny_run / rel)


def test_lld_and_fold_stage_rerun_is_identical(tiny_run: Path, tmp_path: Path) -> None:
    work = copy_run(tiny_run, tmp_path / "run")
    llds = [f"results/lld/{SESSION}/{k}{ext}" for k in ("audio", "face")
            for ext in (".parquet", ".excluded.tsv")]  # fmt: skip
    fold = sorted(
        str(p.relative_to(tiny_run))
        for p in (tiny_run / "results/folds" / FOLD).rglob("*")
        if p.is_file()
    )
    assert {"split.json", "normalizer.npz", "pfa.json", "labels.parquet", "clusters.json",
            "functionals.parquet"} <= {Path(p).name for p in fold}  # fmt: skip
    assert any("/cfs/" in p for p in fold)
    for rel in llds + fold:
        (work / rel).unlink()  # gone: the reruns cannot leave an old file in place

    # Only these targets: nothing downstream runs (no model, no other fold).
    run_snakemake(work, *llds, "--cores", "2")
    run_snakemake(work, *fold, "--cores", "2")

    for rel in llds:
        assert (work / rel).read_bytes() == (tiny_run / rel).read_bytes(), rel
    for rel in fold:
        assert_same_file(work / rel, tiny_run / rel)
