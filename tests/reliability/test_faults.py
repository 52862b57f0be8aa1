"""The faults a long session or one bad moment turned into lost work or a dead app, each
provoked for real: a full disk under the CLI, two threads racing for the core's parts, a broken
install, a training process whose app dies while it is stopped, and stale jobs at the next start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app import paths
from tests.reliability.conftest import DATA, ROOT, alive, kill_quietly, run_cli

LINUX = sys.platform.startswith("linux") and Path("/proc/self/stat").exists()


def test_full_disk_during_an_import_is_a_message_and_keeps_what_was_there(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.store import database

    assert run_cli(capsys, "feedback", "import", str(DATA)).code == 0
    before = run_cli(capsys, "feedback", "list", "--json").out
    real_connect = database._connect

    def full_disk(path: Path) -> Any:  # the file may not grow by a single page
        conn = real_connect(path)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(database, "_connect", full_disk)
    big = tmp_path / "big.jsonl"
    row = {"prompt": "p" * 1000, "response": "r" * 1000, "rating": 1}
    big.write_text("".join(json.dumps(row) + "\n" for _ in range(400)))
    result = run_cli(capsys, "feedback", "import", str(big))
    result.clean_error("could not save", "the disk is full", "nothing of this change was saved")
    monkeypatch.setattr(database, "_connect", real_connect)
    assert run_cli(capsys, "feedback", "list", "--json").out == before  # nothing lost or half in


def test_core_parts_are_built_once_when_two_threads_race(
    core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.adapters.service import AdapterService
    from app.memory.service import MemoryService

    made: list[str] = []
    for cls, name in ((AdapterService, "adapters"), (MemoryService, "memory")):
        real_init = cls.__init__

        def slow_init(self: Any, *args: Any, _real: Any = real_init, _name: str = name, **kw: Any):
            made.append(_name)
            time.sleep(0.3)  # widens the window between the check and the assignment
            _real(self, *args, **kw)

        monkeypatch.setattr(cls, "__init__", slow_init)
    core._memory = None  # Core.open built it already (memory is on by default)
    for part in ("adapters", "memory"):
        barrier = threading.Barrier(2)
        got: list[Any] = []

        def grab(
            part: str = part, barrier: threading.Barrier = barrier, got: list[Any] = got
        ) -> None:
            barrier.wait()
            got.append(getattr(core, part))

        threads = [threading.Thread(target=grab) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert got[0] is got[1], part
    assert sorted(made) == ["adapters", "memory"]  # one each: one job guard, one index


def test_a_broken_command_module_is_named_not_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "app.cli.feedback_cmd", None)  # fails to import
    run_cli(capsys, "feedback", "list").clean_error(
        "installation is incomplete or broken", "cannot import app.cli.feedback_cmd"
    )


def test_a_broken_dependency_of_the_core_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "app.memory.service", None)
    # Memory is on by default: the core used to carry on without it, without a word.
    run_cli(capsys, "adapters", "list").clean_error("cannot import app.memory.service")


def test_a_tool_page_that_fails_to_import_names_the_module(
    qtbot: Any, core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMainWindow, QMessageBox

    from app.ui.menus import open_tool_page

    window = QMainWindow()
    window.session = type("Session", (), {"core": core})()  # type: ignore[attr-defined]
    window.tool_pages = {}  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    told: list[str] = []
    for kind in ("warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda _p, _t, text: told.append(text))
    monkeypatch.setitem(sys.modules, "app.ui.personalization", None)
    assert open_tool_page(window, "personalization") is None
    assert told and "cannot import app.ui.personalization" in told[0], told


@pytest.mark.skipif(not LINUX, reason="the parent-death signal is Linux's")
def test_training_process_dies_with_its_app_even_while_stopped(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, os, signal, sys
        from app.adapters.train import TrainOptions
        from app.core import Core
        core = Core.open(load_model=False)
        service = core.adapters
        service.feedback.import_jsonl(sys.argv[1])

        def progress(event):
            if event.get("event") == "phase":
                service.job.pause()  # SIGSTOP, as while a reply streams
                print(json.dumps({"pid": service.job.pid}), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)  # and the app dies

        service.train(TrainOptions(steps=500, threads=1), on_progress=progress)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(DATA)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    child = int(json.loads(proc.stdout.splitlines()[-1])["pid"])
    try:
        for _ in range(200):  # the kernel's signal is immediate; allow a busy machine 20 s
            if not alive(child):
                break
            time.sleep(0.1)
        assert not alive(child), "the stopped training process outlived its app"
    finally:
        kill_quietly(child)


@pytest.mark.skipif(not LINUX, reason="checks processes through /proc")
def test_jobs_of_a_dead_app_are_cleaned_at_the_next_start(tmp_path: Path) -> None:
    from app.adapters import stale_jobs
    from app.core import Core

    jobs = paths.jobs_dir()
    stale, ours, kept = jobs / "personal-stale", jobs / "personal-ours", jobs / "personal-kept"
    for folder in (stale, ours, kept):
        folder.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    dead_app = int(gone.stdout)
    orphan = subprocess.Popen(  # stands for a training process left stopped by a dead app
        [
            sys.executable,
            "-c",
            "import time; time.sleep(300)",
            "app.adapters.train_job",
            str(stale / "spec.json"),
        ]
    )
    try:
        os.kill(orphan.pid, signal.SIGSTOP)
        (stale / stale_jobs.OWNER).write_text(
            json.dumps({"app_pid": dead_app, "child_pid": orphan.pid})
        )
        stale_jobs.claim(ours)  # a job of this (living) app: not touched
        core = Core.open(load_model=False)
        try:
            assert core.adapters.list() == []  # the next start of adapter work
        finally:
            core.close()
        assert orphan.wait(timeout=30) == -signal.SIGKILL
        assert not stale.exists()
        assert ours.exists() and kept.exists()
    finally:
        kill_quietly(orphan.pid)
