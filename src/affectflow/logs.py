"""Progress logging for workflow jobs and the CLI: timestamped lines to a log file and stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Log = Callable[[str], None]


@contextmanager
def job_log(path: str | Path | None, echo: bool = True) -> Iterator[Log]:
    """Yield ``log(message)`` writing timestamped lines to ``path`` (and stderr if ``echo``).

    An exception escaping the block is written to the log before it propagates, so a failed
    job's log says why it failed.
    """
    fh = None
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w", buffering=1)

    def log(message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        if fh is not None:
            fh.write(line + "\n")
        if echo:
            print(line, file=sys.stderr, flush=True)

    try:
        yield log
    except Exception as err:
        log(f"ERROR: {type(err).__name__}: {err}")
        raise
    finally:
        if fh is not None:
            fh.close()
