"""What a real training run leaves on disk (the session's trained home, no extra training): the
user's text only in the database, every file and folder private, and no network attempt."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from tests.adapters.conftest import DATA, Trained


def _files(home: Path) -> list[Path]:
    return [Path(folder) / name for folder, _d, names in os.walk(home) for name in names]


def test_training_leaves_the_users_text_only_in_the_database(trained: Trained) -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line]
    needles = {r["prompt"].encode() for r in rows} | {r["correction"].encode() for r in rows}
    outside = [p for p in _files(trained.home) if not p.name.startswith("hearth.db")]
    assert any(p.suffix == ".json" and p.parent.name == "adapters" for p in outside)
    leaks = {str(p): n[:30] for p in outside for n in needles if n in p.read_bytes()}
    assert leaks == {}
    assert not (trained.job_dir / "spec.json").exists()  # the split was read once, then deleted


def test_training_files_are_private_and_nothing_reached_the_network(trained: Trained) -> None:
    loose = {}
    for folder, dirs, names in os.walk(trained.home / "data"):
        for name in dirs + names:
            path = Path(folder) / name
            want = 0o700 if path.is_dir() else 0o600
            if stat.S_IMODE(path.stat().st_mode) != want:
                loose[str(path.relative_to(trained.home))] = oct(stat.S_IMODE(path.stat().st_mode))
    assert loose == {}  # the training process's and llama.cpp's files included
    conn = sqlite3.connect(trained.home / "data" / "hearth.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM network_log").fetchone()[0] == 0
    finally:
        conn.close()
