"""Helpers the benchmark scripts share to write their Markdown reports."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """CPU model from /proc/cpuinfo, or the platform's processor (or machine) string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markers(name: str) -> tuple[str, str]:
    """The HTML comments that delimit the block ``name`` in a report shared by several runs."""
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def replace_block(text: str, block: str, name: str) -> str:
    """``text`` with its block ``name`` replaced by ``block`` (which carries the markers), or
    with ``block`` appended when ``text`` has none; the rest of ``text`` is kept as it is."""
    start, end = markers(name)
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return (text.rstrip("\n") + "\n\n" if text.strip() else "") + block


def block(text: str, name: str) -> str | None:
    """The block ``name`` of ``text`` with its markers, or None."""
    start, end = markers(name)
    if start not in text or end not in text:
        return None
    return text[text.index(start) : text.index(end) + len(end)] + "\n"
