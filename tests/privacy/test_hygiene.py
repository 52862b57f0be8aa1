"""Hygiene: private modes, no leftovers of the user's text (temp files, job folders, manifests)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import paths
from app.privacy import hygiene
from tests.privacy.conftest import assert_private

ROOT = Path(__file__).resolve().parents[2]


def python(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh Python process from the project's root; its output as text."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A process started with the usual 022, as Hearth's files were written before."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_start_makes_old_files_private_and_new_ones_are_born_private(
    hearth_home: Path, loose_umask: None
) -> None:
    (paths.adapters_dir() / "a.gguf").write_bytes(b"x")
    (paths.config_dir() / "settings.json").write_text("{}")
    (paths.logs_dir() / "old.log").write_text("x")
    nested = paths.data_dir() / "index" / "deep"
    nested.mkdir(parents=True)
    (nested / "f.bin").write_bytes(b"1")
    assert stat.S_IMODE((paths.adapters_dir() / "a.gguf").stat().st_mode) == 0o644
    report = hygiene.at_start()
    assert report.modes_fixed >= 5
    assert_private(hearth_home)
    # After start-up the umask covers what anyone in the process writes (SQLite, llama.cpp).
    from app.store import open_store

    with open_store() as store:
        store.execute("INSERT INTO state(key, value) VALUES ('x', 'y')")
        assert Path(f"{store.path}-wal").exists()
        assert_private(hearth_home)
    (paths.exports_dir() / "new.zip").write_bytes(b"z")
    assert_private(hearth_home)


def test_leftover_temp_files_are_removed_but_a_write_in_progress_is_not(
    hearth_home: Path,
) -> None:
    old = paths.adapters_dir() / ".personal-1.gguf.k2j3.tmp"
    old.write_bytes(b"half an adapter")
    fresh = paths.data_dir() / ".hearth.db.abcd.tmp"
    fresh.write_bytes(b"being written")
    keep = paths.adapters_dir() / "personal-1.gguf"
    keep.write_bytes(b"whole")
    half_model = paths.models_dir() / "SmolLM2-135M-Instruct.Q4_1.part"
    half_model.write_bytes(b"GGUF half")
    an_hour_ago = time.time() - 3600
    for path in (old, half_model):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert hygiene.clean_temp_files() == 2
    assert not old.exists() and not half_model.exists() and fresh.exists() and keep.exists()


def test_job_folders_of_dead_processes_are_removed(hearth_home: Path) -> None:
    jobs = paths.jobs_dir()
    dead = python("import os; print(os.getpid())").stdout.strip()
    crashed, running, starting = jobs / "crashed", jobs / "running", jobs / "starting"
    for folder in (crashed, running, starting):
        folder.mkdir()
        (folder / "spec.json").write_text('{"split": "the user\'s text"}')
    (crashed / hygiene.PID_FILE).write_text(dead)
    (running / hygiene.PID_FILE).write_text(str(os.getpid()))
    an_hour_ago = time.time() - 3600
    for folder in (crashed, running):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    assert hygiene.clean_stale_jobs() == 1
    assert not crashed.exists() and running.exists() and starting.exists()


def test_training_child_is_guarded_private_and_drops_its_spec(hearth_home: Path) -> None:
    job = paths.jobs_dir() / "personal-test"
    job.mkdir()
    spec = job / "spec.json"
    spec.write_text(json.dumps({"out_dir": str(job), "split": {"train": [], "held": []}}))
    script = (
        "import os, sys\n"
        "from app.adapters import train_job\n"
        "from app.privacy import guard\n"
        "os.umask(0o022)\n"
        "code = train_job.main([sys.argv[1]])\n"
        "import tempfile\n"
        "rec = guard._guard.recorder.__qualname__.split('.')[0]\n"
        "print(code, rec, oct(os.umask(0)), os.environ['HF_HUB_OFFLINE'])\n"
        "print(tempfile.gettempdir(), os.environ['TMPDIR'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[0])["event"] == "error"  # the spec names no model: it stops early
    assert lines[-2] == "1 lazy_store_recorder 0o77 1", proc.stderr
    assert lines[-1] == f"{job / 'tmp'} {job / 'tmp'}"  # its temporary files: in the job folder
    assert not spec.exists()  # the training split is read once, then only held in memory
    assert (job / hygiene.PID_FILE).read_text().strip().isdigit()


def test_a_cancelled_training_leaves_no_job_folder(hearth_home: Path) -> None:
    from app.adapters.train import TrainOptions
    from app.core import Core
    from app.errors import Cancelled

    core = Core.open(load_model=False)
    try:
        service = core.adapters
        for i in range(5):
            service.feedback.add(f"question {i}", f"answer {i}", correction=f"better {i}")
        with pytest.raises(Cancelled):
            service.train(TrainOptions(steps=5, threads=1), on_started=lambda job: job.cancel())
    finally:
        core.close()
    assert list(paths.jobs_dir().iterdir()) == []


def test_manifests_keep_feedback_ids_and_counts_not_text(hearth_home: Path) -> None:
    from app.adapters import dataset
    from app.adapters.consolidate import held_examples
    from app.adapters.train import TrainOptions
    from app.core import Core

    core = Core.open(load_model=False)
    try:
        service = core.adapters
        for i in range(10):
            service.feedback.add(f"private question {i}", f"answer {i}", correction=f"mine {i}")
        split = dataset.build(service.feedback.list(), 0.2)
        result: dict[str, Any] = {
            "parity": {"passed": False, "reason": "injected"},
            "architecture": "llama",
            "rank": 8,
            "alpha": 16.0,
            "targets": [],
            "training": {},
        }
        base = service.base_model()
        outcome = service._register("personal-x", hearth_home, result, split, base, TrainOptions())
        manifest = service.versions.get(outcome.adapter_id).manifest
        text = json.dumps(manifest)
        assert "private question" not in text and "mine " not in text
        ids = manifest["dataset"]["held_back_ids"]
        assert len(ids) == manifest["dataset"]["held_examples"] == len(split.held) == 2
        # The examples are read back from the feedback; deleted feedback is gone from them.
        assert [e.prompt for e in held_examples(service, manifest)] == [
            e.prompt for e in split.held
        ]
        core.store.execute("DELETE FROM feedback WHERE id = ?", (ids[0],))
        assert len(held_examples(service, manifest)) == 1
    finally:
        core.close()


def test_start_applies_the_retention_rules_and_rewrites_old_manifests(hearth_home: Path) -> None:
    from app.adapters.versions import Versions
    from app.privacy import retention
    from app.store import open_store

    retention.save_rules(retention.Rules(conversation_days=30))
    held = {"dataset": {"held_back": [{"prompt": "my diary", "target": "x", "feedback_id": 7}]}}
    adapter = paths.adapters_dir() / "personal-old.gguf"
    adapter.write_bytes(b"GGUF")
    adapter.with_suffix(".json").write_text(json.dumps(held))
    with open_store() as store:
        store.execute("INSERT INTO conversations(title, updated_at) VALUES ('old', '2001-01-01')")
        store.execute("INSERT INTO conversations(title) VALUES ('today')")
        Versions(store).add("personal-old", adapter, held, status="rejected")
    report = hygiene.at_start()
    assert (report.retention_deleted, report.manifests_scrubbed) == (1, 2)  # DB row and file
    with open_store() as store:
        titles = [r["title"] for r in store.query("SELECT title FROM conversations")]
        assert titles == ["today"]
        assert "my diary" not in store.scalar("SELECT manifest FROM adapters")
    manifest = json.loads(adapter.with_suffix(".json").read_text())
    assert manifest == {"dataset": {"held_back_ids": [7]}}
    assert hygiene.at_start().manifests_scrubbed == 0  # once


def test_temporary_files_go_to_a_private_folder_cleaned_at_start(hearth_home: Path) -> None:
    temp = paths.temp_dir()
    dead = python("import os; print(os.getpid())").stdout.strip()
    crashed = temp / dead  # a process that died with its temporary files
    crashed.mkdir()
    (crashed / "tmpk2j3").write_text("the user's words")
    alive = temp / str(os.getpid())  # this test's process: still running, so kept
    alive.mkdir()
    stray = temp / "stray.bin"
    stray.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(stray, (an_hour_ago, an_hour_ago))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        reused = temp / str(sleeper.pid)  # its pid, but written before it started: reused
        reused.mkdir()
        (reused / "old").write_text("older words")
        os.utime(reused, (an_hour_ago, an_hour_ago))
        script = (
            "import json, os, stat, sys, tempfile\n"
            "from pathlib import Path\n"
            "from app.cli import main\n"
            "main(['privacy', 'report', '--json'])\n"  # the command line starts as the app does
            "from app.privacy import inventory\n"
            "with tempfile.NamedTemporaryFile(delete=False) as f:\n"
            "    f.write(b'x')\n"
            "mode = lambda p: oct(stat.S_IMODE(os.stat(p).st_mode))\n"
            "print(json.dumps({'pid': os.getpid(), 'tempdir': tempfile.gettempdir(),\n"
            "    'env': os.environ['TMPDIR'], 'dir': mode(tempfile.gettempdir()),\n"
            "    'file': mode(f.name), 'claim': inventory.claim(Path(f.name)),\n"
            "    'count': inventory.build().get('temp').count}))\n"
        )
        proc = python(script)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    own = temp / str(seen["pid"])
    assert seen["tempdir"] == seen["env"] == str(own)
    assert (seen["dir"], seen["file"]) == ("0o700", "0o600")
    assert (seen["claim"], seen["count"]) == ("temp", 1)
    assert not crashed.exists() and not reused.exists() and not stray.exists()
    assert alive.exists()
    assert not own.exists()  # the process's own folder goes when it exits


def test_the_window_process_is_private_before_qt_starts(hearth_home: Path) -> None:
    """`hearth` with no command opens the window, whose core (and start-up hygiene) opens on a
    worker thread later: the umask and the temp folder are set before the window's code runs."""
    script = (
        "import os, sys, tempfile\n"
        "import app.ui.app as window\n"
        "def seen(argv):\n"  # what the window's code finds when it starts
        "    mask = oct(os.umask(0o077))\n"
        "    print(tempfile.gettempdir(), os.environ['TMPDIR'], mask, os.getpid())\n"
        "    return 0\n"
        "window.main = seen\n"
        "from app.__main__ import main\n"
        "sys.exit(main([]))\n"
    )
    proc = python(script)
    assert proc.returncode == 0, proc.stderr
    tempdir, env, umask, pid = proc.stdout.split()
    assert tempdir == env == str(paths.temp_dir() / pid) and umask == "0o77"


def test_retention_is_applied_again_while_the_process_runs(hearth_home: Path) -> None:
    """The window stays open for weeks: the rules run again each day (here each 0.2 s), in a
    process of its own so the loop dies with it."""
    from app.privacy import retention

    retention.save_rules(retention.Rules(conversation_days=30))
    script = (
        "import time\n"
        "from app.privacy import retention\n"
        "from app.store import open_store\n"
        "retention.start_daily(interval_s=0.2)\n"
        "with open_store() as store:\n"  # made old after the loop started, so not at start
        "    add = 'INSERT INTO conversations(title, updated_at) VALUES (?, ?)'\n"
        "    store.execute(add, ('old', '2001-01-01'))\n"
        "    store.execute(add, ('today', '2999-01-01'))\n"
        "    for _ in range(100):\n"
        "        titles = [r[0] for r in store.query('SELECT title FROM conversations')]\n"
        "        if titles == ['today']:\n"
        "            break\n"
        "        time.sleep(0.1)\n"
        "    print(titles)\n"
    )
    proc = python(script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['today']"
