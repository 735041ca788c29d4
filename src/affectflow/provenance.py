"""Fingerprints of the affectflow code behind an artifact, for Snakemake's cache key.

Snakemake's between-workflow cache (``--cache``; rules with ``cache:``) keys an entry by the
rule's script, its params and the upstream jobs, not by the library the script calls: after a
change to the LLD code, a shared cache would keep serving LLDs of the old code. The cached rules
therefore pass a hash of that code as a param (:func:`lld_code_hash`), which enters the cache
key and, with Snakemake's default rerun triggers, also reruns the LLD jobs of an existing run.

What counts as the code of an artifact is found statically, from the entry point its workflow
script calls (:data:`LLD_ENTRY`: ``affectflow.stages.lld.extract_lld``): the source of that function
and of the module-level definitions of its module that it uses (transitively; annotations are
inert under ``from __future__ import annotations`` and do not count), then every affectflow
module these import, with the modules those import in turn, as whole files. A package's
``__init__`` counts only where names are imported from it. The entry function imports both LLD
kinds' modules; each kind's hash keeps only its own (:data:`LLD_MODULES`), so a change to the
face code keeps the audio LLDs. ``tests/test_cache.py`` traces a real extraction of each kind and
checks that every affectflow function it runs is covered.

Stable across machines and checkouts: modules are named (not located) and taken in sorted
order, file bytes with line endings normalised to ``\\n``. Third-party libraries (Praat via
parselmouth, numpy, ...) are left out, as ``cache: "omit-software"`` says: a shared cache
assumes one software environment.

Pure Python (``ast``, ``hashlib``) on purpose: Snakemake evaluates these params while it parses
the workflow, once per job on a cluster (see :mod:`affectflow.targets`); a hash reads and parses
about a dozen small files and is computed once per process.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path

PACKAGE = "affectflow"
#: The folder holding the affectflow package (``src/``).
SRC: Path = Path(__file__).resolve().parent.parent
#: The function the LLD rules' scripts (workflow/scripts/extract_{audio,face}_lld.py) call.
LLD_ENTRY: tuple[str, str] = ("affectflow.stages.lld", "extract_lld")
#: The module of each LLD kind; the entry function imports all of them, a kind uses its own.
LLD_MODULES: dict[str, str] = {
    "audio": "affectflow.features.audio",
    "face": "affectflow.features.face",
}
#: Version of the hashing scheme below: a change to it must change every hash.
_SCHEME = b"affectflow-code-hash 1"


def module_file(module: str, src: Path = SRC) -> Path | None:
    """The source file of an affectflow module (``None`` when there is none)."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _read(path: Path) -> bytes:
    """File bytes with ``\\r\\n`` line endings as ``\\n`` (a Windows checkout hashes the same)."""
    return path.read_bytes().replace(b"\r\n", b"\n")


def _source(module: str, src: Path) -> bytes:
    """The (normalised) bytes of a module's file."""
    path = module_file(module, src)
    if path is None:
        raise FileNotFoundError(f"no source file of module {module} under {src}")
    return _read(path)


def _bindings(node: ast.Import | ast.ImportFrom, current: str, src: Path) -> dict[str, str]:
    """Name bound by an import statement -> the affectflow module it comes from."""
    out: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if _in_package(alias.name):
                out[alias.asname or alias.name.split(".")[0]] = alias.name
        return out
    base = node.module or ""
    if node.level:  # relative: from the current module's package, level - 1 packages up
        parts = current.split(".")
        if module_file(current, src) != src.joinpath(*parts) / "__init__.py":
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([base] if base else [])])
    if not _in_package(base):
        return out
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        module = sub if alias.name != "*" and module_file(sub, src) else base
        out[alias.asname or alias.name] = module
    return out


@lru_cache(maxsize=256)
def _tree(source: bytes) -> ast.Module:
    """The syntax tree of a source (shared by the kinds' hashes; keyed by content, so a file
    changed within the process is parsed again)."""
    return ast.parse(source)


def _statements(body: Iterable[ast.AST]) -> Iterator[ast.stmt]:
    """Every statement in ``body``, nested ones included (expressions are not visited: an
    import is a statement, and skipping the expressions is most of the cost)."""
    for node in body:
        if isinstance(node, ast.stmt):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, field, None) or ())


def _imports(body: Iterable[ast.AST], current: str, src: Path) -> set[str]:
    """The affectflow modules imported by the statements ``body`` (also inside functions)."""
    return {
        module
        for node in _statements(body)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for module in _bindings(node, current, src).values()
    }


def _names(node: ast.AST) -> set[str]:
    """Names ``node`` reads, annotations left out."""
    found: set[str] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.Name):
            found.add(n.id)
        for field, value in ast.iter_fields(n):
            if field in ("annotation", "returns"):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child)

    visit(node)
    return found


def _segment(lines: list[str], node: ast.stmt) -> str:
    """Source lines of a top-level statement, decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "".join(lines[first - 1 : node.end_lineno])


def function_sources(
    module: str, function: str, src: Path = SRC
) -> tuple[dict[str, bytes], set[str]]:
    """The source of ``module.function`` and of the module-level definitions it uses
    (transitively), keyed ``"module:name"``, and the affectflow modules they import."""
    source = _source(module, src)
    text = source.decode("utf-8")
    tree = _tree(source)
    lines = text.splitlines(keepends=True)
    defs: dict[str, ast.stmt] = {}
    imported: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        defs.setdefault(name.id, stmt)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            imported.update(_bindings(stmt, module, src))
    if function not in defs:
        raise LookupError(f"{module} defines no {function}")
    sources: dict[str, bytes] = {}
    modules: set[str] = set()
    todo, seen = [function], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in imported:
            modules.add(imported[name])
        elif name in defs:
            node = defs[name]
            sources[f"{module}:{name}"] = _segment(lines, node).encode("utf-8")
            modules |= _imports([node], module, src)
            todo.extend(_names(node))
    return sources, modules


def module_closure(roots: Iterable[str], src: Path = SRC) -> list[str]:
    """``roots`` and every affectflow module they import, directly or not; sorted."""
    found: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in found:
            continue
        todo.extend(_imports(_tree(_source(module, src)).body, module, src))
        found.add(module)
    return sorted(found)


def lld_sources(kind: str, src: Path = SRC) -> dict[str, bytes]:
    """Everything the LLDs of ``kind`` (audio or face) are computed with: the entry function
    and its helpers (``"module:name"``) and the whole files of the modules (``"module"``)."""
    if kind not in LLD_MODULES:
        raise ValueError(f"unknown LLD kind {kind!r}; expected one of {sorted(LLD_MODULES)}")
    others = set(LLD_MODULES.values()) - {LLD_MODULES[kind]}
    sources, modules = function_sources(*LLD_ENTRY, src=src)
    roots = (modules - others) | {LLD_MODULES[kind]}
    for module in module_closure(roots, src):
        sources[module] = _source(module, src)
    return sources


def digest(sources: Mapping[str, bytes]) -> str:
    """A short hash of named sources: names sorted, each with its length and bytes."""
    h = hashlib.sha256(_SCHEME)
    for name in sorted(sources):
        data = sources[name].replace(b"\r\n", b"\n")
        h.update(b"\0%s\0%d\0" % (name.encode("utf-8"), len(data)) + data)
    return h.hexdigest()[:16]


def lld_code_hash(kind: str, src: Path = SRC) -> str:
    """Hash of the code that computes the LLDs of ``kind`` (:func:`lld_sources`)."""
    return digest(lld_sources(kind, src))


def module_code_hash(*modules: str, src: Path = SRC) -> str:
    """Hash of ``modules`` and every affectflow module they import (whole files)."""
    return digest({m: _source(m, src) for m in module_closure(modules, src)})
