"""The network proof: what the guard refused since the log began, and what it cannot see.

Read from the database's `network_log` each time it is asked. The limits of a Python-level
guard are stated with the proof, together with how the user can check for themselves.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from app import paths
from app.privacy import guard

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
NO_TELEMETRY = (
    "Hearth has no telemetry, analytics, crash reporting or update check: no code path sends "
    "anything anywhere. The libraries' own telemetry is switched off "
    "(HF_HUB_DISABLE_TELEMETRY=1, DO_NOT_TRACK=1)."
)
BLIND_SPOTS = (
    "The guard lives inside Python. It sees every connection and name lookup made through "
    "Python's socket module and the standard library, but not what native code does on its "
    "own (llama.cpp, torch and other compiled libraries could open sockets without Python "
    "knowing), nor other programs started on your computer."
)
CHECK_YOURSELF = (
    "To check for yourself: run Hearth with networking off (unplug, or `unshare --net hearth` "
    "on Linux) and see that everything works; or watch its connections while you use it "
    "(`ss -tupn | grep python` on Linux, `lsof -i -a -p PID` on macOS, Resource Monitor on "
    "Windows), or use a firewall that asks per program (OpenSnitch, Little Snitch)."
)


@dataclass(frozen=True)
class Proof:
    refused: int
    since: str | None
    last: list[dict[str, Any]] = field(default_factory=list)
    offline_flags: dict[str, bool] = field(default_factory=dict)
    guard_installed: bool = False
    guarded_events: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        since = f" since {self.since[:10]}" if self.since else " since install"
        noun = "attempt" if self.refused == 1 else "attempts"
        text = f"{self.refused} {noun} to reach the network{since}"
        return text if self.refused == 0 else f"{text}; each was refused and logged"

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "summary": self.summary,
            "telemetry": NO_TELEMETRY,
            "blind_spots": BLIND_SPOTS,
            "check_yourself": CHECK_YOURSELF,
        }


def proof(limit: int = 20) -> Proof:
    refused, since, last = 0, None, []
    db = paths.db_path()
    if db.is_file():
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            refused = int(conn.execute("SELECT COUNT(*) FROM network_log WHERE allowed = 0")
                          .fetchone()[0])  # fmt: skip
            row = conn.execute("SELECT value FROM state WHERE key = 'network_log_since'")
            found = row.fetchone()
            since = str(found[0]) if found else None
            last = [
                dict(r)
                for r in conn.execute(
                    "SELECT at, event, destination, caller FROM network_log "
                    "WHERE allowed = 0 ORDER BY id DESC LIMIT ?",
                    (limit,),
                )
            ]
        except sqlite3.Error:
            pass  # a database from before the log: nothing recorded
        finally:
            conn.close()
    return Proof(
        refused,
        since,
        last,
        {flag: os.environ.get(flag) == "1" for flag in OFFLINE_FLAGS},
        guard._guard is not None,
        sorted(guard.GUARDED_EVENTS),
        sorted(guard.allowed_hosts()),
    )
