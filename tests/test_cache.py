"""Between-workflow caching of the LLDs (`snakemake --cache`, rules with `cache:` in lld.smk).

Two workflow directories over the same synthetic corpus (each generates it; same preset and
seed give identical files) share one SNAKEMAKE_OUTPUT_CACHE. The first extracts two sessions'
LLDs and stores them in the cache; the second gets them from the cache: Snakemake symlinks the
cached files in, the LLD scripts never run (their job logs stay empty), and the files equal the
first's. Each session has its own cache entry (the cache key does not include wildcards, so
the rules pass the session as a param; without it every session got the same LLDs). Only the
LLD targets are built: two corpus generations and two sessions' extraction, not whole runs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_workdir, run_snakemake, tiny_config

pytestmark = pytest.mark.e2e

SESSIONS = ["Ses01", "Ses02"]
KINDS = ["audio", "face"]
TARGETS = [f"results/lld/{s}/{k}.parquet" for s in SESSIONS for k in KINDS]


def test_second_workflow_reuses_cached_llds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SNAKEMAKE_OUTPUT_CACHE", str(cache))  # run_snakemake passes os.environ
    first = make_workdir(tmp_path / "first", tiny_config())
    second = make_workdir(tmp_path / "second", tiny_config())

    # Targets before --cache, which would take them as rule names.
    run_snakemake(first, *TARGETS, "--cores", "2", "--cache")
    for s in SESSIONS:
        for k in KINDS:
            assert (first / f"logs/lld/{s}/{k}.log").stat().st_size > 0, f"{s} {k} not extracted"
    # One entry (.parquet + .excluded.tsv) per session and kind.
    stored = sorted(p.name for p in cache.iterdir() if p.name.endswith(".parquet"))
    assert len(stored) == len(TARGETS), stored

    proc = run_snakemake(second, *TARGETS, "--cores", "2", "--cache")
    out = proc.stdout + proc.stderr
    assert (second / "results/index/utterances.parquet").exists()  # made again, not cached
    for target in TARGETS:
        assert f"Symlinking output file {target} from cache" in out, out[-4000:]
    for s in SESSIONS:
        for k in KINDS:
            log = second / f"logs/lld/{s}/{k}.log"
            assert not log.exists() or log.stat().st_size == 0, f"LLD job ran: {log.read_text()}"
    for target in TARGETS:
        pd.testing.assert_frame_equal(
            pd.read_parquet(second / target), pd.read_parquet(first / target)
        )
        excluded = target.replace(".parquet", ".excluded.tsv")
        assert (second / excluded).read_text() == (first / excluded).read_text()
    # Each session got its own LLDs, not another session's cache entry.
    for k in KINDS:
        ids = [
            set(pd.read_parquet(second / f"results/lld/{s}/{k}.parquet")["utt_id"])
            for s in SESSIONS
        ]
        assert all(u.startswith(s) for s, us in zip(SESSIONS, ids, strict=True) for u in us)
    # The second workflow accepts the cached files as up to date.
    proc = run_snakemake(second, *TARGETS, "-n", "--cache")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
