"""Errors that name the offending file (and line) so a user can fix the input."""

from __future__ import annotations

from pathlib import Path


class AffectflowError(Exception):
    """Base class of every error affectflow raises on purpose."""


class CorpusError(AffectflowError):
    """A corpus file is malformed or missing; names the file, the line and what was expected."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(AffectflowError):
    """A configuration value is invalid; names the key."""
