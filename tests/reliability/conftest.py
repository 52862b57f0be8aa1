"""Fixtures for the reliability tests: a real core, the real feedback data, the CLI in-process,
and checks that a failure ended in a message rather than a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.recipes import DATA

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["DATA", "ROOT", "CliResult", "alive", "kill_quietly", "run_cli"]


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def clean_error(self, *needles: str) -> None:
        """Exit 2, an `error: ...` line (the last one) holding every needle, no traceback."""
        assert self.code == 2, (self.code, self.out, self.err)
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("error: "), self.err
        assert "Traceback" not in self.err + self.out, self.err
        for needle in needles:
            assert needle in lines[-1], (needle, self.err)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """`hearth ARGS` in this process (so a test can inject a fault), output captured."""
    from app.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def alive(pid: int) -> bool:
    """A process that still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state != "Z"


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def core() -> Iterator[Any]:
    """A core on the test's HEARTH_HOME without a loaded model."""
    from app.core import Core

    opened = Core.open(load_model=False)
    try:
        yield opened
    finally:
        opened.close()
