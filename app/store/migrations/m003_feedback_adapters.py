"""Feedback (ratings, edited answers, preference statements) and the adapter versions."""

import sqlite3

from app.store.migrations import run_script


def up(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('rating', 'edit', 'statement')),
            prompt TEXT NOT NULL DEFAULT '',
            response TEXT NOT NULL DEFAULT '',
            correction TEXT,
            rating INTEGER CHECK (rating IS NULL OR rating IN (-1, 1)),
            statement TEXT,
            source_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE INDEX feedback_by_message ON feedback(source_message_id);
        CREATE TABLE adapters (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT,
            manifest TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'ready'
                CHECK (status IN ('ready', 'rejected', 'refused', 'missing', 'imported')),
            parents TEXT NOT NULL DEFAULT '[]',
            base_sha256 TEXT,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE TABLE adapter_activations (
            id INTEGER PRIMARY KEY,
            adapter_id INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
            scale REAL NOT NULL DEFAULT 1.0,
            undone INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        """,
    )
