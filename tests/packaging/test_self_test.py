"""`hearth --self-test` from the source checkout: every check passes, a broken part is named,
and the frozen app's way of starting its child processes (through the app itself) works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("database", "model", "memory", "training")


def run_self_test(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_self_test_passes_and_leaves_the_users_home_alone(hearth_home: Path) -> None:
    done = run_self_test({}, "-m", "app", "--self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in CHECKS:
        assert any(line.split()[:2] == ["ok", name] for line in lines), done.stdout
    assert "reached 'loading'" in done.stdout  # the training process ran, then was stopped
    assert lines[-1].startswith("self-test passed: 4 checks")
    # Everything happened in a temporary home: the user's (here the test's) is untouched.
    assert list(hearth_home.iterdir()) == []


def test_a_model_that_crashes_is_named_and_fails_the_self_test() -> None:
    # The first-run check's child crashes natively, as a model can on some CPUs.
    done = run_self_test({"HEARTH_TEST_PROBE_FAULT": "segv"}, "-m", "app", "--self-test")
    assert done.returncode == 1
    assert any(line.split()[:2] == ["FAIL", "model"] for line in done.stdout.splitlines())
    assert "crashes llama.cpp" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("self-test failed: model")
    assert "Traceback" not in done.stdout + done.stderr


def test_frozen_app_starts_its_children_through_itself(tmp_path: Path) -> None:
    """In a bundle `sys.executable` is the app: the probe and the training process must be
    started as `hearth --probe-model ...` and `hearth --train-job ...`. A stand-in executable
    that only accepts the app's own arguments plays the bundle."""
    app = tmp_path / "hearth"
    log = tmp_path / "argv.log"
    app.write_text(
        f'#!/bin/sh\necho "$1" >> {log}\n'
        f'case "$1" in -m|-c) exit 90;; esac\nexec {sys.executable} -m app "$@"\n'
    )
    app.chmod(0o755)
    code = (
        "import sys; sys.frozen = True; sys.executable = sys.argv[1]\n"
        "from app.__main__ import main; sys.exit(main(['--self-test']))"
    )
    done = run_self_test({}, "-c", code, str(app))
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().split() == ["--probe-model", "--train-job"]
