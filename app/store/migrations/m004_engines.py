"""Remote engines: servers of the user's own (an OpenAI-compatible API) that Hearth may talk to.

A row exists only because the user added it; its API key is never stored here (the OS keyring
or a 0600 file holds it). At most one row is `active`: no active row means the local model
answers.
"""

import sqlite3

from app.store.migrations import run_script


def up(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE engines (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            model TEXT,
            has_key INTEGER NOT NULL DEFAULT 0,
            base_sha256 TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            active INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE UNIQUE INDEX engines_one_active ON engines(active) WHERE active = 1;
        """,
    )
