"""The soak's short version: turns in the real window with memory on and an adapter active,
in a child process (its own files, threads and memory). Nothing may pile up turn by turn.
`make soak` runs 1,000 turns; this one runs a few, with memory extraction by rules only (the
model's extraction costs seconds per turn here; the full soak keeps it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).with_name("soak.py")
TURNS, WARMUP = 16, 6


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_turns_leave_nothing_behind(hearth_home: Path) -> None:
    args = ["--turns", str(TURNS), "--warmup", str(WARMUP), "--window", "5", "--max-tokens", "8"]
    done = subprocess.run(
        [sys.executable, str(SOAK), *args, "--per-conversation", "4", "--rules-only"],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, HEARTH_THREADS="1", QT_QPA_PLATFORM="offscreen"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["turns"] == TURNS and result["adapter"], result
    # Every turn after warm-up opens a learn thread and store readers and, every 4 turns, a
    # conversation: a leak of one per turn shows as +10. Idle readers are pooled (up to
    # MAX_IDLE_READERS), so SQLite's connections and their files may differ by the pool's size.
    from app.store.database import MAX_IDLE_READERS

    def other_files(when: str) -> int:
        return result[f"open_files_{when}"] - result[f"sqlite_files_{when}"]

    assert other_files("end") <= other_files("start") + 2, result
    assert result["threads_end"] <= result["threads_start"] + 2, result
    connections = result["sqlite_connections_end"] - result["sqlite_connections_start"]
    assert connections <= MAX_IDLE_READERS, result
    assert result["rss_growth"] <= 0.15, result
    assert result["memories"] > 0 and result["decode_tok_s_end"] > 0, result
