"""Changing one stage's knob reruns exactly what depends on it, and nothing else.

Each test asks Snakemake for a dry run (``snakemake -n --config ...``) in the finished shared
tiny run; a dry run writes nothing, so the shared run stays as it is. The planned jobs are read
from the dry run's job descriptions (rule and outputs of every job). Two checks per knob:

1. the jobs that read the knob themselves ("direct" jobs: e.g. every BLSTM training) are all
   planned, with the expected count, and stages upstream of them are not (no LLD job for a
   BLSTM knob, ...);
2. the whole plan equals the direct jobs plus everything downstream of them, which Snakemake
   computes itself in a second dry run, ``--forcerun <outputs of the direct jobs>`` without the
   config change. So the reports, figures and final models that other rules derive from the
   changed results are expected wherever they are wired in, and any job that would rerun
   without depending on the change (or a missing one) fails the test.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from affectflow.features.audio import PITCH_CEILING_HZ, audio_lld_array
from affectflow.features.groups import AUDIO_LLDS
from tests.conftest import run_snakemake

pytestmark = pytest.mark.e2e

_RULE = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$")
_OUTPUT = re.compile(r"^\s*output: (.+)$")
_REASON = re.compile(r"^\s*reason: (.+)$")


@dataclass(frozen=True)
class Planned:
    """One job of a dry run: its rule and output files (its identity), and why it would run."""

    rule: str
    outputs: tuple[str, ...]
    reason: str = ""

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.rule, self.outputs


def dry_run(workdir: Path, *args: str) -> list[Planned]:
    """The jobs a dry run plans in ``workdir`` (the target rule `all` left out)."""
    proc = run_snakemake(workdir, "-n", *args)
    jobs: list[Planned] = []
    rule: str | None = None
    outputs: tuple[str, ...] = ()
    for line in proc.stdout.splitlines():
        if m := _RULE.match(line):
            if rule is not None and outputs:
                jobs.append(Planned(rule, outputs))
            rule, outputs = m.group(1), ()
        elif (m := _OUTPUT.match(line)) and rule is not None:
            outputs = tuple(p.strip() for p in m.group(1).split(","))
        elif (m := _REASON.match(line)) and rule is not None and outputs:
            jobs.append(Planned(rule, outputs, m.group(1)))
            rule, outputs = None, ()
    if rule is not None and outputs:
        jobs.append(Planned(rule, outputs))
    stats = re.search(r"^total\s+(\d+)$", proc.stdout, re.MULTILINE)
    # The job stats table counts the same jobs (plus `all`): nothing was missed by the parser.
    if stats is not None:
        assert len(jobs) + 1 == int(stats.group(1)), proc.stdout[-3000:]
    else:
        assert not jobs and "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout
    return jobs


def keys(jobs: list[Planned]) -> set[tuple[str, tuple[str, ...]]]:
    return {job.key for job in jobs}


def downstream_closure(workdir: Path, direct: list[Planned]) -> list[Planned]:
    """``direct`` and every job downstream of it, as Snakemake plans them."""
    assert direct
    return dry_run(workdir, "--forcerun", *(job.outputs[0] for job in direct))


def stage(job: Planned) -> str:
    """corpus, lld, folds, models, final or report, from the job's first output."""
    out = job.outputs[0]
    for prefix, name in (
        ("resources/", "corpus"),
        ("results/index/", "corpus"),
        ("results/lld/", "lld"),
        ("results/folds/", "folds"),
        ("results/models/", "models"),
        ("results/final/", "final"),
    ):
        if out.startswith(prefix):
            return name
    return "report"


def model_classifiers(jobs: list[Planned]) -> Counter:
    """Cross-validation model jobs per classifier (results/models/{task}/{classifier}/...)."""
    return Counter(j.outputs[0].split("/")[3] for j in jobs if stage(j) == "models")


@pytest.fixture(scope="module")
def config(tiny_run: Path) -> dict:
    return yaml.safe_load((tiny_run / "config.yaml").read_text())


@pytest.fixture(scope="module")
def n_folds(config: dict) -> int:
    return 2 * len(config["corpus"]["sessions"])


def n_cv_jobs(config: dict, n_folds: int, classifier: str) -> int:
    """One job per (classifier, fold) serves every task configured with the classifier."""
    return n_folds * any(classifier in clfs for clfs in config["tasks"].values())


def test_finished_run_is_up_to_date(tiny_run: Path) -> None:
    """The baseline of every test below: without a change nothing would run."""
    assert dry_run(tiny_run) == []


@pytest.mark.parametrize("anchored", [False, True], ids=["plain", "yaml-anchor"])
def test_blstm_knob_reruns_only_blstm_and_what_follows(
    tiny_run: Path, config: dict, n_folds: int, tmp_path: Path, anchored: bool
) -> None:
    """models.blstm.noise_sigma: the BLSTM trainings (all of them), then aggregation, tables and
    whatever derives from them; no LSTM (even when config.yaml shares one YAML block between
    lstm and blstm, as the repository's does), HMM, SVM, fold or LLD job. The command-line
    override merges into the blstm block: its other keys keep their values."""
    extra: list[str] = []
    if anchored:
        shared = dict(config, models=dict(config["models"]))
        shared["models"]["blstm"] = shared["models"]["lstm"]  # one object: YAML anchor + alias
        assert config["models"]["lstm"] == config["models"]["blstm"]
        path = tmp_path / "anchored.yaml"
        path.write_text(yaml.safe_dump(shared, sort_keys=False))
        assert "*id" in path.read_text()
        extra = ["--configfile", str(path)]
        assert dry_run(tiny_run, *extra) == []

    jobs = dry_run(tiny_run, *extra, "--config", "models={blstm: {noise_sigma: 0.5}}")

    assert model_classifiers(jobs) == {"blstm_vf": n_cv_jobs(config, n_folds, "blstm_vf")}
    assert not {stage(j) for j in jobs} & {"corpus", "lld", "folds"}
    rules = {j.rule for j in jobs}
    assert {"train_blstm", "aggregate_metrics", "make_tables"} <= rules
    assert "make_table1" not in rules  # CFS only

    # Only noise_sigma changed; the other blstm keys (max_epochs=15, ...) survived the merge.
    rnn = next(j for j in jobs if j.rule == "train_blstm")
    before, now = (
        ast.literal_eval(m)
        for m in re.search(r"before: (\{.*?\}) now: (\{.*?\})", rnn.reason).groups()
    )
    assert before == config["models"]["blstm"]
    assert now == dict(before, noise_sigma=0.5)

    direct = [
        j for j in jobs if re.match(r"results/(models/[^/]+|final/[^/]+)/blstm_", j.outputs[0])
    ]
    assert keys(jobs) == keys(downstream_closure(tiny_run, direct))


def test_cfs_knob_reruns_selection_and_functional_models(
    tiny_run: Path, config: dict, n_folds: int
) -> None:
    """selection.search_termination: CFS of every fold and task, the models on the selected
    functionals (SVM, LSTM, BLSTM), Table 1, aggregation and tables; no HMM (frame-level LLDs,
    no CFS), no other fold artifact, no LLD."""
    jobs = dry_run(tiny_run, "--config", "selection={search_termination: 4}")

    by_rule = Counter(j.rule for j in jobs)
    assert by_rule["select_features"] == n_folds  # one job per fold for all tasks
    functional_models = ("svm_vf", "lstm_vf", "blstm_vf")
    assert model_classifiers(jobs) == {
        clf: n_cv_jobs(config, n_folds, clf) for clf in functional_models
    }
    assert not {stage(j) for j in jobs} & {"corpus", "lld"}
    fold_rules = {j.rule for j in jobs if stage(j) == "folds" and "/prep/" not in j.outputs[0]}
    assert fold_rules == {"select_features"}
    assert {"make_table1", "aggregate_metrics", "make_tables"} <= set(by_rule)

    direct = [j for j in jobs if "/cfs/" in j.outputs[0]]  # select_features (+ final models')
    assert keys(jobs) == keys(downstream_closure(tiny_run, direct))


def test_audio_lld_knob_reruns_from_audio_llds_down(
    tiny_run: Path, config: dict, n_folds: int
) -> None:
    """lld.pitch_ceiling: the audio LLDs of every session and everything after them; not the
    face LLDs (their max_gap_frames survives the merge), not the corpus or its index."""
    jobs = dry_run(tiny_run, "--config", "lld={pitch_ceiling: 500}")

    by_rule = Counter(j.rule for j in jobs)
    assert by_rule["extract_audio_lld"] == len(config["corpus"]["sessions"])
    assert "extract_face_lld" not in by_rule
    assert not {"synthesize_corpus", "index_corpus"} & set(by_rule)
    # Every fold artifact that reads the LLDs, and every model (all read audio-derived data).
    for rule in ("fit_normalizer", "fit_pfa", "compute_functionals", "select_features"):
        assert by_rule[rule] >= n_folds, rule
    planned = {out for j in jobs if stage(j) == "models" for out in j.outputs}
    for task, classifiers in config["tasks"].items():  # every (task, classifier, fold)
        for clf in classifiers:
            assert sum(f"results/models/{task}/{clf}/" in out and out.endswith(
                "/predictions.parquet") for out in planned) == n_folds, (task, clf)

    direct = [j for j in jobs if j.rule == "extract_audio_lld"]
    assert keys(jobs) == keys(downstream_closure(tiny_run, direct))


def test_pitch_ceiling_reaches_the_pitch_analysis() -> None:
    """The knob is real: a 300 Hz tone has pitch ~300 Hz under the default ceiling (600 Hz) and
    none (or another value) under a 200 Hz ceiling; the other 40 LLDs do not change."""
    rate = 16000
    t = np.arange(int(0.5 * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 300.0 * t)
    default = audio_lld_array(x, rate)
    assert np.array_equal(default, audio_lld_array(x, rate, pitch_ceiling=PITCH_CEILING_HZ))
    low = audio_lld_array(x, rate, pitch_ceiling=200.0)
    pitch = list(AUDIO_LLDS).index("pitch")
    assert np.nanmedian(default[:, pitch]) == pytest.approx(300.0, rel=0.02)
    assert not np.allclose(low[:, pitch], default[:, pitch], equal_nan=True)
    others = [i for i in range(len(AUDIO_LLDS)) if i != pitch]
    assert np.array_equal(low[:, others], default[:, others])
