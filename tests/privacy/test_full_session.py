"""A full session in one home (chat on the real model, memory, training in its own process, a
merge with an imported skill, an export) records no network attempt, leaves every file and
folder private (the training process's and llama.cpp's included), and puts none of the user's
words in a log or in any file but the database and the export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.recipes import hearth_home as home_env
from tests.privacy.conftest import CHAT, FEEDBACK, REMEMBERED, assert_private, captured_logs, scan

SAID = (CHAT, REMEMBERED, FEEDBACK)


@dataclass(frozen=True)
class Full:
    home: Path
    logs: list[str]  # every log record of the session, at DEBUG
    trained: Any  # TrainOutcome
    merged: Any  # MergeOutcome
    export: Path


def _run(home: Path) -> tuple[Any, Any, Path]:
    from app import paths
    from app.adapters.consolidate import merge_versions
    from app.adapters.lora_file import base_model_info, write_lora
    from app.adapters.merge import make_options
    from app.adapters.train import TrainOptions
    from app.core import Core
    from app.privacy.export import export_all
    from app.settings import Settings, save_settings
    from tests.adapters.test_merge_helpers import random_adapter

    save_settings(Settings(max_tokens=16, temperature=0.0, threads=1, memory_enabled=True))
    core = Core.open(load_model=True, n_threads=1)
    try:
        core.engine.wait_loaded()
        conv = core.conversations.create()
        events = list(core.assistant.send(conv, f"Remember that my sister is called {CHAT}."))
        assert type(events[-1]).__name__ == "Done", events[-1]
        core.assistant.wait_idle(timeout=120)
        core.memory.add(f"My locker code is {REMEMBERED}.")
        core.memory.flush_index()
        feedback = core.adapters.feedback
        for i in range(5):
            feedback.add(f"Greet {FEEDBACK} {i}", f"Hi {i}.", correction=f"Hello {FEEDBACK} {i}!")
        # The fewest steps that still run every stage: child process, torch, export, parity in
        # llama.cpp, the gate. The job folder is kept (arrays, log) to check its files' modes.
        options = TrainOptions(steps=2, threads=1, parity_prompts=1, keep_arrays=True)
        trained = core.adapters.train(options)
        assert trained.status in ("ready", "rejected"), trained.reason
        skill = home / "skill.gguf"  # an adapter from elsewhere, imported, then merged
        info = base_model_info(core.adapters.base_model().path)
        write_lora(skill, random_adapter(info, b_scale=0.002, seed=1, layers=[0, 1]))
        skill_id = core.adapters.import_file(skill)
        skill.unlink()
        merged = merge_versions(
            core.adapters,
            [trained.adapter_id, skill_id],
            "ties",
            make_options("ties", density=0.5, rank=4),
            evaluate=True,  # the parents' held-back examples scored in llama.cpp
        )
        export = export_all(core.store, paths.exports_dir()).path
    finally:
        core.close()
    return trained, merged, export


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Full]:
    home = tmp_path_factory.mktemp("full-session")
    with captured_logs() as lines, home_env(home):
        trained, merged, export = _run(home)
    yield Full(home, lines, trained, merged, export)


def test_a_full_session_records_no_network_attempt(full: Full, capsys: Any) -> None:
    import sqlite3

    from app.cli import main

    assert full.merged.adapter_id > full.trained.adapter_id  # training and merge both ran
    conn = sqlite3.connect(full.home / "data" / "hearth.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM network_log").fetchone()[0] == 0
    finally:
        conn.close()
    with home_env(full.home):
        assert main(["privacy", "report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["network"]["refused"] == 0
    assert report["network"]["summary"].startswith("0 attempts to reach the network")


def test_every_file_and_folder_of_a_full_session_is_private(full: Full) -> None:
    job = next((full.home / "data" / "jobs").iterdir())
    made_by_training = {p.name for p in job.rglob("*")}
    assert {"adapter.gguf", "stderr.log", "tmp"} <= made_by_training, made_by_training
    assert_private(full.home)


def test_the_users_words_are_only_in_the_database_and_the_export(full: Full) -> None:
    leaks = [line for line in full.logs if any(s.lower() in line.lower() for s in SAID)]
    assert leaks == []
    found = scan(full.home, SAID)
    assert set(found) <= {"data/hearth.db", "data/hearth.db-wal"}, found
    # The export (compressed) is the user's own copy: it holds them all.
    import zipfile

    with zipfile.ZipFile(full.export) as archive:
        text = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8", "replace")
    assert all(s in text for s in SAID)


def test_the_export_holds_the_trained_and_merged_adapters(full: Full) -> None:
    import sqlite3
    import zipfile

    from app.privacy.export import verify

    manifest = verify(full.export)  # every entry's sha256 checked
    conn = sqlite3.connect(full.home / "data" / "hearth.db")
    try:
        stored = {Path(r[0]).name for r in conn.execute("SELECT path FROM adapters") if r[0]}
        feedback = conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    finally:
        conn.close()
    assert len(stored) == 3  # trained, imported skill, merge
    with zipfile.ZipFile(full.export) as archive:
        names = set(archive.namelist())
    for name in stored:
        assert {f"adapters/{name}", f"adapters/{Path(name).stem}.json"} <= names, name
    assert manifest["counts"]["feedback"] == feedback


def test_every_file_of_a_full_session_is_claimed_and_a_wipe_leaves_no_word(
    full: Full, hearth_home: Path, capsys: Any
) -> None:
    import shutil

    from app.cli import main
    from app.privacy import inventory

    for part in full.home.iterdir():  # a copy: the other tests read the session itself
        shutil.copytree(part, hearth_home / part.name, dirs_exist_ok=True)
    found = inventory.build()
    assert found.unclaimed == []
    assert found.get("adapters").count == 3 and found.get("jobs").count == 1
    assert "data/hearth.db" in scan(hearth_home, SAID)  # the words are there to be wiped
    assert main(["privacy", "wipe", "--yes"]) == 0
    assert "wiped:" in capsys.readouterr().out
    assert scan(hearth_home, SAID) == {}
    assert not any((hearth_home / "data" / "adapters").iterdir())
