"""Numbered schema migrations: `mNNN_name.py` modules, each with `up(conn)`, applied in order.

`PRAGMA user_version` holds the number of the last one applied; each runs in its own
transaction together with the version bump, so a crash never leaves a half-migrated file.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sqlite3
from collections.abc import Callable

from app.errors import StoreError

_NAME = re.compile(r"^m(\d{3})_\w+$")


def discover() -> list[tuple[int, str, Callable[[sqlite3.Connection], None]]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append((int(match.group(1)), info.name, module.up))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, got {numbers}")
    return found


def run_script(conn: sqlite3.Connection, sql: str) -> None:
    """Run several statements inside the caller's transaction.

    `executescript` would COMMIT first and break the one-transaction-per-migration rule, so the
    script is cut into complete statements (triggers with inner semicolons stay whole).
    """
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")


def apply_migrations(conn: sqlite3.Connection) -> int:
    migrations = discover()
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(migrations):
        raise StoreError(
            f"the database was written by a newer Hearth (schema {current}, "
            f"this version knows {len(migrations)}); update Hearth to open it"
        )
    for number, _name, up in migrations[current:]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            up(conn)
            conn.execute(f"PRAGMA user_version={number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(migrations)
