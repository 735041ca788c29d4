"""Progress logging for workflow jobs and the CLI, through the standard :mod:`logging` module.

Every module logs to ``logging.getLogger(__name__)`` (a child of the package logger
``affectflow``); nothing takes a log callable. :func:`job_log` configures the package logger once
per job: timestamped lines to the rule's log file and to stderr, as the progress lines of a
Snakemake job or of a CLI command. Outside a job (a library user, a test) the lines go wherever
the application's logging configuration sends them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The package logger every module's logger descends from.
PACKAGE = "affectflow"
_FORMAT = logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S")


@contextmanager
def job_log(path: str | Path | None, echo: bool = True) -> Iterator[logging.Logger]:
    """Send the package's INFO lines to ``path`` (truncated; ``None``: no file) and, if ``echo``,
    to stderr, for the duration of the block; yields the package logger.

    An exception escaping the block is logged to the file before it propagates, so a failed
    job's log says why it failed (without a file the caller reports it: the CLI prints one
    ``affectflow: error:`` line). The logger's previous handlers and level are restored
    afterwards.
    """
    logger = logging.getLogger(PACKAGE)
    handlers: list[logging.Handler] = []
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(_FORMAT)
        logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield logger
    except Exception as err:
        if path:
            logger.error(f"ERROR: {type(err).__name__}: {err}")
        raise
    finally:
        logger.setLevel(level)
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
