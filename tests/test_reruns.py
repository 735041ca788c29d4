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

Two more properties: the same config written in another order (keys sorted, set-like lists
reversed) reruns nothing, and a knob of one model family reruns that family's jobs and final
bundles and the aggregation with its tables and figures, with exact job counts (a bundle computes
its cross-validation metrics from its own classifier's predictions, so another family's change
leaves it alone).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from affectflow.bundle import CV_METRICS
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


def reordered(config: dict) -> dict:
    """``config`` with the keys of every mapping in reverse order, and every list whose order
    means nothing (sessions, each task's classifiers, the final models' classifiers and tasks)
    reversed: the same configuration, written differently."""

    def reverse_keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: reverse_keys(value[k]) for k in reversed(list(value))}
        return value

    out = reverse_keys(config)
    out["corpus"]["sessions"] = list(reversed(out["corpus"]["sessions"]))
    out["tasks"] = {task: list(reversed(clfs)) for task, clfs in out["tasks"].items()}
    out["final"] = {k: v if v is None else list(reversed(v)) for k, v in out["final"].items()}
    return out


@pytest.fixture(scope="module")
def run_copy(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the shared run (outputs, times and Snakemake's records) for the tests that
    replace its config.yaml."""
    return Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("run") / "run", symlinks=True))


@pytest.mark.parametrize("how", ["configfile", "config.yaml"])
@pytest.mark.parametrize("order", ["sorted", "reordered"])
def test_same_config_in_another_order_schedules_nothing(
    tiny_run: Path, run_copy: Path, config: dict, tmp_path: Path, order: str, how: str
) -> None:
    """Identical values with the keys in another order (``yaml.safe_dump`` sorts them) or with
    set-like lists in another order are the same configuration: nothing reruns, whether the
    file is passed with --configfile or replaces the workflow directory's config.yaml."""
    if order == "sorted":
        text = yaml.safe_dump(config, sort_keys=True)
        assert list(yaml.safe_load(text)) != list(config)  # the order did change
    else:
        text = yaml.safe_dump(reordered(config), sort_keys=False)
        assert yaml.safe_load(text)["tasks"] != config["tasks"]  # lists reversed
    if how == "configfile":
        path = tmp_path / "config.yaml"
        path.write_text(text)
        assert dry_run(tiny_run, "--configfile", str(path)) == []
    else:
        original = (run_copy / "config.yaml").read_text()
        (run_copy / "config.yaml").write_text(text)
        try:
            assert dry_run(run_copy) == []
        finally:
            (run_copy / "config.yaml").write_text(original)


def final_bundles(config: dict, family: str) -> set[str]:
    """The run's final bundle folders of ``family`` (its *_vf and *_v classifiers)."""
    return {
        f"results/final/{task}/{clf}"
        for task in config["final"]["tasks"]
        for clf in config["final"]["classifiers"]
        if clf.startswith(f"{family}_")
    }


#: A knob of each model family: the --config override, the jobs that read it (one per fold
#: each), the cross-validation jobs downstream of them (per fold), the family of final models.
KNOBS = {
    # the BLSTM's block also trains its context ablation (blstm_vf_noctx, configured for valence)
    "blstm": ("models={blstm: {hidden: 64}}", ["train_blstm", "train_blstm_noctx"], [], "blstm"),
    "lstm": ("models={lstm: {hidden: 64}}", ["train_lstm"], [], "lstm"),
    "svm": ("models={svm: {C: 0.5}}", ["train_svm"], [], "svm"),
    "hmm": (
        "models={hmm: {n_iter: 10}}",
        ["train_hmm_v", "train_hmm_f", "train_hmm_vf"],
        ["train_hmm_lm"],  # decodes the v+f HMMs' scores
        "hmm",
    ),
}


@pytest.mark.parametrize("knob", list(KNOBS))
def test_model_knob_reruns_its_family_its_bundles_and_the_aggregation(
    tiny_run: Path, config: dict, n_folds: int, knob: str
) -> None:
    """A knob of one model family reruns that family's cross-validation jobs, the final
    bundles of that family only (each bundle's cross-validation metrics come from its own
    classifier's predictions), and the aggregation with what derives from it (tables,
    figures); nothing else. Exact job counts: any extra job (another family's bundle, a fold
    artifact) or a missing one fails."""
    override, direct, downstream, family = KNOBS[knob]
    jobs = dry_run(tiny_run, "--config", override)

    expected = Counter({rule: n_folds for rule in direct + downstream})
    bundles = final_bundles(config, family)
    if bundles:
        expected["train_final"] = len(bundles)
    expected.update(["aggregate_metrics", "make_tables", "make_figures"])
    assert Counter(j.rule for j in jobs) == expected
    assert {j.outputs[0] for j in jobs if j.rule == "train_final"} == bundles


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

    assert model_classifiers(jobs) == {
        clf: n_cv_jobs(config, n_folds, clf) for clf in ("blstm_vf", "blstm_vf_noctx")
    }
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
    functional_models = ("svm_vf", "lstm_vf", "blstm_vf", "blstm_vf_noctx")
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


def test_bundle_cv_metrics_equal_the_aggregated_metrics(tiny_run: Path, config: dict) -> None:
    """What a bundle computes from its own fold predictions equals what aggregate_metrics
    computes from all of them: the decoupling changed where the numbers come from, not them."""
    per_fold = pd.read_parquet(tiny_run / "results/metrics/per_fold.parquet")
    checked = 0
    for task in config["final"]["tasks"]:
        for clf in config["final"]["classifiers"]:
            manifest = json.loads((tiny_run / f"results/final/{task}/{clf}/manifest.json")
                                  .read_text())
            rows = per_fold[(per_fold["task"] == task) & (per_fold["classifier"] == clf)]
            if clf not in config["tasks"].get(task, []):
                assert manifest["cv_metrics"] is None and rows.empty
                continue
            cv = manifest["cv_metrics"]
            assert cv["n_folds"] == len(rows) == 2 * len(config["corpus"]["sessions"])
            for metric in CV_METRICS:
                assert cv[metric] == pytest.approx(rows[metric].mean(), rel=1e-12), metric
            checked += 1
    assert checked >= 2
