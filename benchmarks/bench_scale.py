"""Run the whole workflow on a synthetic preset and report the time spent per stage.

The question this answers: how long does the complete DAG take at IEMOCAP scale (preset
``iemocap``: 5 sessions, about 12 h of audio and face-marker data, the paper's five tasks and
seven classifiers, 10 leave-one-speaker-out folds) on a small machine (``--cores 2``), and
where does the time go. The run is a plain ``snakemake --cores N`` in its own workflow
directory (the repository's config.yaml with the chosen preset; ``profiles/default`` applies);
nothing is mocked.

Per job the script reads

- the ``benchmark:`` files (``benchmarks/runs/**.tsv``: wall seconds, CPU seconds, peak RSS) of
  the rules that have one, and
- Snakemake's own log of the run (``.snakemake/log/*.snakemake.log``: the time stamps at which
  each job started and finished, 1 s resolution) for every job, including the rules without a
  benchmark file (the cached LLD rules, which Snakemake forbids to benchmark, and the small
  bookkeeping rules),

and writes a Markdown report: per stage (corpus, LLD, folds, models, final models, report:
tables and figures) and per rule the
number of jobs, the summed job wall time, CPU time and peak memory where known, and the
stage's span on the clock (first start to last finish; stages overlap in a parallel run).

Run: ``.venv/bin/python benchmarks/bench_scale.py [--preset iemocap] [--cores 2]
[--workdir DIR] [--out benchmarks/scale.md]`` (``make bench SCALE_PRESET=iemocap``). The
``iemocap`` preset takes well over 30 minutes on 2 cores and about 8 GB of disk; ``--preset
demo`` (minutes) checks the script itself. An existing work directory is reused (Snakemake
then only reruns what is missing, so the report would not time a complete run): use
``--fresh`` to start from scratch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from reporting import markers, replace_block

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

#: Stage of each rule (see stage_of for the others).
STAGES = {
    "synthesize_corpus": "corpus",
    "index_corpus": "corpus",
    "extract_audio_lld": "lld",
    "extract_face_lld": "lld",
    "collect_lld_exclusions": "lld",
    "split_fold": "folds",
    "fit_normalizer": "folds",
    "fit_pfa": "folds",
    "make_labels": "folds",
    "compute_functionals": "folds",
    "select_features": "folds",
}
_SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
STAGE_ORDER = ["corpus", "lld", "folds", "models", "final", "report"]


TITLE = "# Workflow scale runs"
INTRO = (
    "Written by `benchmarks/bench_scale.py`: one section per executor (local `--cores N`, "
    "`--executor slurm`), each replaced by that executor's next run. Synthetic corpus, not "
    "IEMOCAP: the figures are the workflow's cost at the preset's size, not results."
)


def stage_of(rule: str) -> str:
    """The stage of a rule: STAGES, the final models' rules (final.smk), the classifiers
    (train_*: models.smk), else "report"."""
    if rule in STAGES:
        return STAGES[rule]
    if rule.startswith("final_") or rule == "train_final":
        return "final"
    if rule.startswith("train_"):
        return "models"
    return "report"


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_BENCH = re.compile(r"^\s+benchmark: (\S+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")
_MEM = re.compile(r"^\s+resources: .*\bmem_mb=(\d+)")


@dataclass
class Job:
    """One job of the run as the Snakemake log and its benchmark file describe it."""

    rule: str
    start: float
    end: float | None = None
    benchmark: str | None = None
    wall_s: float | None = None  # from the benchmark file (more precise than the log)
    cpu_s: float | None = None
    max_rss_mb: float | None = None
    mem_mb: int | None = None  # what the rule asked for (resources: mem_mb)

    @property
    def seconds(self) -> float:
        if self.wall_s is not None:
            return self.wall_s
        return (self.end or self.start) - self.start


@dataclass
class Summary:
    jobs: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    cpu_jobs: int = 0
    max_rss_mb: float = 0.0
    mem_mb: int = 0
    start: float = float("inf")
    end: float = float("-inf")
    rules: set[str] = field(default_factory=set)

    def add(self, job: Job) -> None:
        self.jobs += 1
        self.seconds += job.seconds
        if job.cpu_s is not None:
            self.cpu_s += job.cpu_s
            self.cpu_jobs += 1
        if job.max_rss_mb is not None:
            self.max_rss_mb = max(self.max_rss_mb, job.max_rss_mb)
        if job.mem_mb is not None:
            self.mem_mb = max(self.mem_mb, job.mem_mb)
        self.start = min(self.start, job.start)
        self.end = max(self.end, job.end or job.start)
        self.rules.add(job.rule)


def parse_snakemake_log(path: Path, local_only: bool = False) -> list[Job]:
    """Jobs of one run from Snakemake's log: rule, start and finish time, benchmark file.

    Also reads the log of a SLURM job (the Snakemake inside the allocation), where every job of
    a group is listed with job id 0: a finish closes the latest started job of that id. There
    each job appears twice, as the job step's ``rule X`` and as the ``localrule X`` that ran
    it (``srun``); ``local_only`` keeps the latter only.
    """
    found: list[Job] = []
    jobs: dict[str, Job] = {}  # job id -> the latest job started with it
    stamp: float | None = None
    rule: str | None = None  # the rule whose job description follows
    last: Job | None = None
    for line in path.read_text().splitlines():
        if m := _STAMP.match(line):
            stamp = time.mktime(time.strptime(m.group(1), "%a %b %d %H:%M:%S %Y"))
        elif m := _RULE.match(line):
            local = line.startswith("localrule")
            rule, last = (m.group(1) if local or not local_only else None), None
        elif (m := _JOBID.match(line)) and rule is not None and stamp is not None:
            last = jobs[m.group(1)] = Job(rule=rule, start=stamp)
            found.append(last)
        elif (m := _BENCH.match(line)) and last is not None:
            last.benchmark = m.group(1)
        elif (m := _MEM.match(line)) and last is not None:
            last.mem_mb = int(m.group(1))
        elif (m := _FINISHED.match(line)) and stamp is not None and m.group(1) in jobs:
            jobs[m.group(1)].end = stamp
            rule, last = None, None
    return [job for job in found if job.rule != "all"]


def elapsed_seconds(workdir: Path) -> float | None:
    """The "Elapsed time" Snakemake logged at the end of the latest run, if any."""
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        return None
    m = re.search(r"^Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)$", logs[-1].read_text(), re.M)
    if m is None:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def read_benchmark(path: Path) -> tuple[float, float | None, float | None]:
    """Wall seconds, CPU seconds and peak RSS (MB) from a Snakemake benchmark file."""
    lines = path.read_text().splitlines()
    header, values = lines[0].split("\t"), lines[-1].split("\t")
    row = dict(zip(header, values, strict=False))

    def number(key: str) -> float | None:
        try:
            return float(row[key])
        except (KeyError, ValueError):
            return None  # "NA" for very short jobs

    return float(row["s"]), number("cpu_time"), number("max_rss")


def collect(workdir: Path, slurm: bool = False) -> list[Job]:
    """All jobs of the latest run in ``workdir``, with benchmark figures where available.

    ``slurm``: the jobs ran inside SLURM jobs, whose logs (kept with
    ``--slurm-keep-successful-logs``) are read instead of the main log, which lists group jobs
    only by group.
    """
    if slurm:
        logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
        if not logs:
            raise SystemExit(f"no SLURM job log in {workdir}/.snakemake/slurm_logs")
        jobs = [job for path in logs for job in parse_snakemake_log(path, local_only=True)]
    else:
        logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
        if not logs:
            raise SystemExit(f"no Snakemake log in {workdir}/.snakemake/log")
        jobs = parse_snakemake_log(logs[-1])
    for job in jobs:
        if job.benchmark and (workdir / job.benchmark).exists():
            job.wall_s, job.cpu_s, job.max_rss_mb = read_benchmark(workdir / job.benchmark)
    return jobs


def slurm_job_count(run_log: Path) -> int | None:
    """SLURM jobs the run submitted (the executor plugin logs one line per submission)."""
    if not run_log.exists():
        return None
    return len(set(_SUBMITTED.findall(run_log.read_text())))


def disk_mb(path: Path) -> float:
    """Size of the files under ``path`` in MB (0 when it does not exist)."""
    if not path.exists():
        return 0.0
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _fmt(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def report(
    jobs: list[Job],
    *,
    preset: str,
    cores: int,
    wall_s: float,
    cpu_s: float,
    workdir: Path,
    load: tuple[float, float] | None,
    command: str,
    slurm_jobs: int | None = None,
) -> str:
    """The Markdown report of one run."""
    stages: dict[str, Summary] = defaultdict(Summary)
    rules: dict[str, Summary] = defaultdict(Summary)
    for job in jobs:
        stages[stage_of(job.rule)].add(job)
        rules[job.rule].add(job)
    t0 = min((s.start for s in stages.values()), default=0.0)
    job_s = sum(s.seconds for s in stages.values())
    cpu_part = f"{cpu_s:,.0f} CPU s in Snakemake and all jobs (getrusage); " if cpu_s else ""
    load_part = (
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        if load
        else "load average not recorded (--report-only) "
    )

    slurm_part = f" Snakemake jobs in {slurm_jobs} SLURM jobs" if slurm_jobs else ""
    corpus = stages.get("corpus")
    without_corpus = ""
    if corpus is not None and corpus.jobs and "synthesize_corpus" in corpus.rules:
        rest = wall_s - (corpus.end - corpus.start)
        without_corpus = (f", {_clock(rest)} without generating the synthetic corpus (a run on "
                          "the real IEMOCAP has no such step)")
    executor = "local SLURM" if slurm_jobs else f"--cores {cores}"
    out = [
        f"## Workflow scale run: preset `{preset}`, {executor}",
        "",
        f"**Synthetic corpus (preset `{preset}`), not IEMOCAP**: the figures are the "
        "workflow's cost at this corpus's size, not results.",
        "",
        f"Generated by `benchmarks/bench_scale.py` on {dt.date.today().isoformat()}: `{command}`.",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} logical cores visible, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"{load_part}(other work on the machine inflates the wall times; CPU times are the "
        "jobs' own)",
        f"- jobs: {len(jobs)}{slurm_part}; whole run {_clock(wall_s)} wall ({wall_s:,.0f} s)"
        f"{without_corpus}, {cpu_part}summed job time {job_s:,.0f} s",
        f"- disk: corpus {disk_mb(workdir / 'resources'):,.0f} MB, results "
        f"{disk_mb(workdir / 'results'):,.0f} MB "
        f"(LLDs {disk_mb(workdir / 'results' / 'lld'):,.0f} MB, folds "
        f"{disk_mb(workdir / 'results' / 'folds'):,.0f} MB, models "
        f"{disk_mb(workdir / 'results' / 'models'):,.0f} MB)",
        "",
        *(
            []
            if preset == "iemocap"
            else [
                f"> **Preset `{preset}`, not IEMOCAP scale.** These figures check the script and "
                "show the shape of the run on a small corpus; the IEMOCAP-scale measurement is "
                "`make bench SCALE_PRESET=iemocap` (or `benchmarks/bench_scale.py --preset "
                "iemocap`).",
                "",
            ]
        ),
        "### Per stage",
        "",
        "Job s: summed wall time of the stage's jobs (benchmark file, else the Snakemake log's "
        "start/finish stamps). CPU s and peak RSS: from the benchmark files, over the jobs that "
        "have one (n). Span: the stage's first start to its last finish, from the start of the "
        "run; stages overlap.",
        "",
        "| stage | jobs | job s | share | CPU s (n) | peak RSS MB | span |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in STAGE_ORDER:
        if name not in stages:
            continue
        s = stages[name]
        cpu = f"{s.cpu_s:,.0f} ({s.cpu_jobs})" if s.cpu_jobs else ""
        share = f"{100 * s.seconds / job_s:.0f} %" if job_s else ""
        out.append(
            f"| {name} | {s.jobs} | {s.seconds:,.0f} | {share} | {cpu} | "
            f"{_fmt(s.max_rss_mb or None)} | {_clock(s.start - t0)} - {_clock(s.end - t0)} |"
        )
    out += [
        "",
        "### Per rule",
        "",
        "Asked MB: the largest `mem_mb` the rule's jobs asked for (first attempt), to compare "
        "with the peak RSS.",
        "",
        "| rule | stage | jobs | job s | mean s | max s | CPU s | peak RSS MB | asked MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    longest = {r: max(j.seconds for j in jobs if j.rule == r) for r in rules}
    for name, s in sorted(rules.items(), key=lambda kv: -kv[1].seconds):
        out.append(
            f"| {name} | {stage_of(name)} | {s.jobs} | {s.seconds:,.1f} | "
            f"{s.seconds / s.jobs:,.1f} | {longest[name]:,.1f} | "
            f"{_fmt(s.cpu_s if s.cpu_jobs else None, 1)} | {_fmt(s.max_rss_mb or None)} | "
            f"{_fmt(s.mem_mb or None)} |"
        )
    return "\n".join(out) + "\n"


def workflow_config(preset: str, seed: int) -> dict:
    """The repository's config.yaml on the synthetic corpus of ``preset``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["corpus"]["source"] = "synthetic"
    config["corpus"]["synthetic"] = {"preset": preset, "seed": seed}
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="iemocap", choices=["tiny", "demo", "iemocap"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="workflow directory of the run (default: affectflow-scale-<preset>-<seed> in the "
        "system's temp folder)",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the workdir first")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("scale.md"))
    parser.add_argument(
        "--report-only", action="store_true", help="do not run; report the workdir's last run"
    )
    parser.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="slurm: through profiles/slurm on the running SLURM cluster (the local test cluster "
        "of tests/cluster, started with ensure_slurm), per-job caps fitted to its node",
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.gettempdir()) / (
        f"affectflow-scale-{args.preset}-{args.seed}"
    )
    if args.fresh and workdir.exists() and not args.report_only:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    if args.executor == "slurm":
        sys.path.insert(0, str(REPO))
        from tests.cluster.slurm import ensure_slurm, local_cluster_args, slurm_env

        ensure_slurm()
        cluster_args = local_cluster_args()
        cmd += ["--workflow-profile", str(REPO / "profiles" / "slurm"), *cluster_args,
                "--slurm-keep-successful-logs"]  # fmt: skip
        env.update(slurm_env(), PYTHONHASHSEED="0")
        shown = (f"snakemake --workflow-profile profiles/slurm {' '.join(cluster_args)} "
                 f"(local single-node SLURM), preset {args.preset}, seed {args.seed}")
    else:
        cmd += ["--cores", str(args.cores)]
        shown = f"snakemake --cores {args.cores}, preset {args.preset}, seed {args.seed}"
    run_log = workdir / "bench_scale-snakemake.out"

    load_start = os.getloadavg()[0]
    wall = cpu = 0.0
    if not args.report_only:
        (workdir / "config.yaml").write_text(
            yaml.safe_dump(workflow_config(args.preset, args.seed), sort_keys=False)
        )
        print(f"running: {' '.join(cmd)}", file=sys.stderr, flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with run_log.open("w") as sink:  # Snakemake's output, also shown as it comes
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sys.stderr.write(line)
            proc.wait()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if args.executor == "slurm":
            cpu = 0.0  # the jobs ran under slurmd, not as children: getrusage misses them
        if proc.returncode != 0:
            raise SystemExit(f"snakemake failed ({proc.returncode}); workdir kept: {workdir}")
    jobs = collect(workdir, slurm=args.executor == "slurm")
    if args.report_only:
        wall = elapsed_seconds(workdir) or (
            max(j.end or j.start for j in jobs) - min(j.start for j in jobs) if jobs else 0.0
        )
    text = report(
        jobs,
        preset=args.preset,
        cores=args.cores,
        wall_s=wall,
        cpu_s=cpu,
        workdir=workdir,
        load=None if args.report_only else (load_start, os.getloadavg()[0]),
        command=shown,
        slurm_jobs=slurm_job_count(run_log) if args.executor == "slurm" else None,
    )
    name = f"scale-{args.executor}"
    start, end = markers(name)
    previous = args.out.read_text() if args.out.exists() else ""
    if not previous.lstrip().startswith(TITLE):
        previous = TITLE + "\n\n" + INTRO + "\n"  # a report of the old layout: start afresh
    args.out.write_text(replace_block(previous, f"{start}\n{text}{end}\n", name))
    print(text)
    print(f"written: {args.out}", file=sys.stderr)
    if not args.keep and not args.report_only and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
