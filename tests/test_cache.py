"""Between-workflow caching of the LLDs (`snakemake --cache`, rules with `cache:` in lld.smk).

Two workflow directories over the same synthetic corpus (each generates it; same preset and
seed give identical files) share one SNAKEMAKE_OUTPUT_CACHE. The first extracts two sessions'
LLDs and stores them in the cache; the second gets them from the cache: Snakemake symlinks the
cached files in, the LLD scripts never run (their job logs stay empty), and the files equal the
first's. Each session has its own cache entry (the cache key does not include wildcards, so
the rules pass the session as a param; without it every session got the same LLDs). Only the
LLD targets are built: two corpus generations and two sessions' extraction, not whole runs.

The cache key knows the code that computes the LLDs (affectflow.provenance; a param of the LLD
rules): the hash covers every affectflow function an extraction runs (traced here), changes
when any hashed file changes and only then, and a workflow whose LLD code differs gets a new
cache entry instead of the old code's LLDs.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from affectflow import provenance
from affectflow.corpus.iemocap import build_index, write_index
from affectflow.corpus.synth import generate_corpus
from affectflow.stages import lld
from tests.conftest import make_workdir, run_snakemake, tiny_config

SESSIONS = ["Ses01", "Ses02"]
KINDS = ["audio", "face"]
TARGETS = [f"results/lld/{s}/{k}.parquet" for s in SESSIONS for k in KINDS]


@pytest.mark.e2e
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


# ------------------------------------------------------------ the cache key knows the LLD code


def copy_package(dest: Path) -> Path:
    """A copy of the affectflow sources (``dest/affectflow``); returns ``dest``, the folder to
    put on PYTHONPATH or to pass as ``src``."""
    shutil.copytree(
        provenance.SRC / "affectflow", dest / "affectflow",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return dest


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index (Parquet) of a generated tiny corpus."""
    root = generate_corpus(tmp_path_factory.mktemp("corpus"), "tiny", seed=0)
    out = tmp_path_factory.mktemp("index")
    index, excluded = build_index(root)
    write_index(index, excluded, out / "utterances.parquet", out / "excluded.tsv")
    return out / "utterances.parquet"


def _executed(kind: str, index: Path, out: Path) -> set[tuple[str, str]]:
    """(file, top-level function) of every affectflow function a real extraction of ``kind``
    runs (Ses01, as the workflow's script calls it). Module and class bodies run on import are
    left out: the entry function imports both kinds' modules, and definitions count through the
    functions that use them (whose modules are hashed whole)."""
    calls: set[tuple[str, str]] = set()
    package = str(provenance.SRC / "affectflow")

    def profile(frame, event, arg):  # noqa: ANN001, ANN202 (sys.setprofile's signature)
        code = frame.f_code
        if (event == "call" and code.co_filename.startswith(package)
                and code.co_flags & inspect.CO_OPTIMIZED):  # a function, not a body
            calls.add((code.co_filename, code.co_qualname.split(".")[0]))

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        lld.extract_lld(
            kind, index_path=index, session="Ses01", out_path=out / f"{kind}.parquet",
            excluded_path=out / f"{kind}.excluded.tsv", utterances="wearer_only", strict=True,
            max_gap_frames=12,
        )
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert (out / f"{kind}.parquet").exists()
    return calls


def _module(path: str) -> str:
    rel = Path(path).relative_to(provenance.SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


@pytest.mark.parametrize("kind", sorted(provenance.LLD_MODULES))
def test_lld_hash_covers_all_code_an_extraction_runs(
    kind: str, corpus_index: Path, tmp_path: Path
) -> None:
    """Every affectflow function a real extraction runs is hashed: the entry module's functions by
    name (the entry point and its helpers), every other one by its whole module. The other
    kind's module, and code no extraction reaches (models, folds), are not."""
    hashed = provenance.lld_sources(kind)
    entry_module, entry = provenance.LLD_ENTRY
    executed = _executed(kind, corpus_index, tmp_path)
    assert (provenance.module_file(entry_module).as_posix(), entry) in {
        (Path(f).as_posix(), name) for f, name in executed
    }
    for path, name in sorted(executed):
        module = _module(path)
        if module == entry_module:
            assert f"{module}:{name}" in hashed, f"{module}.{name} runs but is not hashed"
        else:
            assert module in hashed, f"{module} ({name}) runs but is not hashed"
    other = {m for k, m in provenance.LLD_MODULES.items() if k != kind}
    assert provenance.LLD_MODULES[kind] in hashed and not other & set(hashed)
    assert entry_module not in hashed  # only its LLD functions, not the whole stage module
    assert not {m for m in hashed if m.startswith(("affectflow.models", "affectflow.selection"))}


@pytest.mark.parametrize("kind", sorted(provenance.LLD_MODULES))
def test_lld_hash_changes_with_each_hashed_file_only(kind: str, tmp_path: Path) -> None:
    """Editing any hashed module, or the entry function, changes the kind's hash; editing code
    outside it (another function of the entry module, a model, the other kind's module) does
    not; the hash does not depend on where the code lies or on its line endings."""
    src = copy_package(tmp_path / "src")
    base = provenance.lld_code_hash(kind, src)
    assert base == provenance.lld_code_hash(kind)  # a copy elsewhere hashes the same
    modules = [name for name in provenance.lld_sources(kind, src) if ":" not in name]
    assert len(modules) >= 5, modules
    for module in modules:
        path = provenance.module_file(module, src)
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert provenance.lld_code_hash(kind, src) != base, f"{module} edit not seen"
        path.write_bytes(original)
    assert provenance.lld_code_hash(kind, src) == base

    # Functions of the entry module: the entry and its helpers count, the others do not.
    entry_module, entry = provenance.LLD_ENTRY
    entry_py = provenance.module_file(entry_module, src)
    original = entry_py.read_text()
    functions = [node.name for node in ast.parse(original).body
                 if isinstance(node, ast.FunctionDef)]
    hashed = {name.partition(":")[2] for name in provenance.lld_sources(kind, src)}
    helpers = [f for f in functions if f in hashed and f != entry]
    others = [f for f in functions if f not in hashed]
    assert entry in functions and helpers and others

    def edited(function: str) -> str:
        old = f"def {function}("
        assert original.count(old) == 1, old
        entry_py.write_text(original.replace(old, f"{old}  # edited\n"))
        try:
            return provenance.lld_code_hash(kind, src)
        finally:
            entry_py.write_text(original)

    for function in (entry, *helpers):
        assert edited(function) != base, f"{function} edit not seen"
    for function in others:
        assert edited(function) == base, f"{function} is not LLD code"
    for unrelated in ("affectflow.models.svm", *(m for k, m in provenance.LLD_MODULES.items()
                                                 if k != kind)):
        path = provenance.module_file(unrelated, src)
        path.write_bytes(path.read_bytes() + b"\n# edited\n")
    assert provenance.lld_code_hash(kind, src) == base
    for path in (src / "affectflow").rglob("*.py"):  # a Windows checkout: CRLF
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert provenance.lld_code_hash(kind, src) == base


@pytest.mark.e2e
def test_changed_lld_code_gets_a_new_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow whose audio LLD code differs (here: a copy of the package with a comment
    added to features/audio.py, put first on PYTHONPATH) does not take the audio LLDs from the
    cache: its job runs and stores a second entry; the face LLDs, whose code is unchanged, still
    come from the cache. Before the code hash was a param, both were taken from the cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SNAKEMAKE_OUTPUT_CACHE", str(cache))
    targets = [f"results/lld/Ses01/{kind}.parquet" for kind in KINDS]
    first = make_workdir(tmp_path / "first", tiny_config())
    run_snakemake(first, *targets, "--cores", "2", "--cache")
    assert len(list(cache.glob("*.parquet"))) == 2

    src = copy_package(tmp_path / "src")
    audio = provenance.module_file("affectflow.features.audio", src)
    audio.write_text(audio.read_text() + "\n# a changed LLD module\n")
    assert provenance.lld_code_hash("audio", src) != provenance.lld_code_hash("audio")
    assert provenance.lld_code_hash("face", src) == provenance.lld_code_hash("face")
    monkeypatch.setenv("PYTHONPATH", str(src))  # Snakemake and its jobs import the copy
    second = make_workdir(tmp_path / "second", tiny_config())
    proc = run_snakemake(second, *targets, "--cores", "2", "--cache")
    out = proc.stdout + proc.stderr

    # Face: taken from the cache. Audio: extracted again, then stored (and linked back).
    assert "Symlinking output file results/lld/Ses01/face.parquet from cache" in out, out[-4000:]
    assert "Moving output file results/lld/Ses01/face.parquet to cache" not in out
    assert "Moving output file results/lld/Ses01/audio.parquet to cache" in out, out[-4000:]
    assert (second / "logs/lld/Ses01/audio.log").stat().st_size > 0
    face_log = second / "logs/lld/Ses01/face.log"
    assert not face_log.exists() or face_log.stat().st_size == 0
    assert len(list(cache.glob("*.parquet"))) == 3  # a new entry for the new audio code
    pd.testing.assert_frame_equal(  # a comment changes the key, not the values
        pd.read_parquet(second / targets[0]), pd.read_parquet(first / targets[0])
    )


def test_module_closure_follows_every_kind_of_import(tmp_path: Path) -> None:
    """Absolute, relative, function-level and ``from package import module`` imports are
    followed; names imported from a package count its ``__init__``; other packages do not."""
    pkg = tmp_path / "affectflow"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "VERSION = 1\n",
        "a.py": "import numpy\nfrom . import b\nfrom .sub import c\n"
                "def f():\n    from affectflow.sub.d import g\n    return g\n",
        "b.py": "from affectflow import VERSION\n",
        "unused.py": "",
        "sub/__init__.py": "",
        "sub/c.py": "from ..b import *\n",
        "sub/d.py": "import affectflow.sub.e as e\n",
        "sub/e.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert provenance.module_closure(["affectflow.a"], tmp_path) == [
        "affectflow", "affectflow.a", "affectflow.b", "affectflow.sub.c", "affectflow.sub.d",
        "affectflow.sub.e",
    ]
