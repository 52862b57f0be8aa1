"""Memories: the facts, preferences, notes and events Hearth keeps, with full-text search.

The `embedding` column (float32, little-endian) is the record; the dense index under
`paths.index_dir()` is derived from it. `state.memory_generation` is bumped by triggers on every
change, so a derived index can tell cheaply whether it is stale.
"""

import sqlite3

from app.store.migrations import run_script


def up(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'fact'
                CHECK (kind IN ('fact', 'preference', 'note', 'event')),
            source_type TEXT NOT NULL DEFAULT 'manual'
                CHECK (source_type IN ('manual', 'message', 'import', 'file')),
            source_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            source_ref TEXT,
            source_ids TEXT NOT NULL DEFAULT '[]',
            batch TEXT,
            seq INTEGER,
            subject TEXT,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            last_used_at TEXT,
            use_count INTEGER NOT NULL DEFAULT 0,
            pinned INTEGER NOT NULL DEFAULT 0,
            embedding BLOB,
            superseded_by INTEGER REFERENCES memories(id) ON DELETE SET NULL
        );
        CREATE INDEX memories_by_batch ON memories(batch, seq);
        CREATE INDEX memories_by_subject ON memories(subject) WHERE subject IS NOT NULL;
        CREATE INDEX memories_by_message ON memories(source_message_id);
        CREATE TABLE memory_history (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            reason TEXT NOT NULL,
            changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE INDEX memory_history_by_memory ON memory_history(memory_id);
        CREATE VIRTUAL TABLE memories_fts USING fts5(
            text, content='memories', content_rowid='id', tokenize='porter unicode61'
        );
        INSERT OR IGNORE INTO state(key, value) VALUES ('memory_generation', '0');
        CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
            UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'memory_generation';
        END;
        CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
            UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'memory_generation';
        END;
        CREATE TRIGGER memories_au_text AFTER UPDATE OF text ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER memories_au_index AFTER UPDATE OF embedding, superseded_by ON memories
        BEGIN
            UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'memory_generation';
        END;
        """,
    )
