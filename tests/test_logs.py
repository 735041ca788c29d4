"""Job logging through the standard logging module (affectflow.logs)."""

from __future__ import annotations

import logging
import re

import pytest

from affectflow.logs import PACKAGE, job_log


def test_job_log_writes_module_lines_to_the_file_and_stderr(tmp_path, capsys) -> None:
    path = tmp_path / "logs" / "job.log"
    module_logger = logging.getLogger("affectflow.stages.example")
    with job_log(path):
        module_logger.info("fold Ses01F: 8 training speakers")
        module_logger.debug("not shown at INFO")
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] fold Ses01F: 8 training speakers", lines[0])
    assert "fold Ses01F" in capsys.readouterr().err
    # the handlers are gone after the block: nothing more reaches the file
    module_logger.info("after the job")
    assert path.read_text().splitlines() == lines
    assert not logging.getLogger(PACKAGE).handlers


def test_job_log_records_the_error_that_ends_the_job(tmp_path) -> None:
    path = tmp_path / "job.log"
    with pytest.raises(ValueError, match="bad fold"), job_log(path, echo=False):
        raise ValueError("bad fold")
    assert path.read_text().strip().endswith("ERROR: ValueError: bad fold")


def test_job_log_without_echo_keeps_stderr_quiet(tmp_path, capsys) -> None:
    with job_log(tmp_path / "quiet.log", echo=False):
        logging.getLogger("affectflow.x").info("only in the file")
    assert "only in the file" not in capsys.readouterr().err
    assert "only in the file" in (tmp_path / "quiet.log").read_text()
