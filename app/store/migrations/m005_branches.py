"""Branches: every message knows the one before it, and a conversation knows its current end.

Regenerating an answer or editing a question adds a sibling instead of replacing anything, so
every version is kept. The messages a conversation shows are the path from its `leaf_id` back to
the first message. Existing conversations become single paths.
"""

import sqlite3

from app.store.migrations import run_script


def up(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE messages ADD COLUMN parent_id INTEGER
            REFERENCES messages(id) ON DELETE CASCADE;
        ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
        UPDATE messages SET parent_id = (
            SELECT max(p.id) FROM messages p
            WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id
        );
        UPDATE conversations SET leaf_id = (
            SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id
        );
        CREATE INDEX messages_by_parent ON messages(parent_id);
        """,
    )
