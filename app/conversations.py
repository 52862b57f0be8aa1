"""Conversations and their messages, as stored in the database."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from typing import Any

from app.store import Store

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    leaf_id: int | None = None  # the last message of the branch shown


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    created_at: str
    model: str | None = None
    tokens: int | None = None
    tok_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None  # the message before it on its branch


class Conversations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, title: str | None = None) -> int:
        return self.store.execute(
            "INSERT INTO conversations(title) VALUES(?)", (title or "New conversation",)
        )

    def get(self, conversation_id: int) -> Conversation | None:
        row = self.store.query_one("SELECT * FROM conversations WHERE id=?", (conversation_id,))
        return None if row is None else Conversation(**dict(row))

    def list(self) -> list[Conversation]:
        rows = self.store.query("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC")
        return [Conversation(**dict(row)) for row in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        title = title.strip() or "New conversation"
        self.store.execute(
            f"UPDATE conversations SET title=?, updated_at={_NOW} WHERE id=?",
            (title, conversation_id),
        )

    def delete(self, conversation_id: int) -> None:
        self.store.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))

    def messages(self, conversation_id: int) -> builtins.list[Message]:
        rows = self.store.query(
            "SELECT * FROM messages WHERE conversation_id=? ORDER BY id", (conversation_id,)
        )
        return [_message(row) for row in rows]

    def message(self, message_id: int) -> Message | None:
        row = self.store.query_one("SELECT * FROM messages WHERE id=?", (message_id,))
        return None if row is None else _message(row)

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        model: str | None = None,
        tokens: int | None = None,
        tok_s: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO messages(conversation_id, role, content, model, tokens, tok_s, meta) "
                "VALUES(?,?,?,?,?,?,?)",
                (conversation_id, role, content, model, tokens, tok_s, json.dumps(meta or {})),
            )
            conn.execute(
                f"UPDATE conversations SET updated_at={_NOW} WHERE id=?", (conversation_id,)
            )
            return int(cur.lastrowid or 0)

    def update_message(
        self, message_id: int, content: str | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Change a message's text and/or merge keys into its meta."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT meta FROM messages WHERE id=?", (message_id,)).fetchone()
            if row is None:
                return
            merged = {**json.loads(row["meta"] or "{}"), **(meta or {})}
            if content is None:
                conn.execute(
                    "UPDATE messages SET meta=? WHERE id=?", (json.dumps(merged), message_id)
                )
            else:
                conn.execute(
                    "UPDATE messages SET content=?, meta=? WHERE id=?",
                    (content, json.dumps(merged), message_id),
                )

    def delete_message(self, message_id: int) -> None:
        self.store.execute("DELETE FROM messages WHERE id=?", (message_id,))

    def delete_messages_from(self, conversation_id: int, message_id: int) -> int:
        """Delete a message and every later one in its conversation (regenerate, edit and
        resend); returns how many went."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM messages WHERE conversation_id=? AND id>=?",
                (conversation_id, message_id),
            )
            return int(cur.rowcount)

    def title_from(self, conversation_id: int, text: str) -> None:
        """Name a new conversation after its first message."""
        conv = self.get(conversation_id)
        if conv is not None and conv.title == "New conversation":
            self.rename(conversation_id, title_for(text))


def title_for(text: str, limit: int = 48) -> str:
    """A conversation title from its first message: one line, cut at a word, never mid-word.
    The window and the command line both name conversations with it."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line or "New conversation"
    cut = line[: limit + 1].rsplit(" ", 1)[0]
    if len(cut) > limit or not cut:  # one word longer than the limit
        cut = line[:limit]
    return cut.rstrip(" ,.;:") + "…"


def _message(row: Any) -> Message:
    data = dict(row)
    data["meta"] = json.loads(data.get("meta") or "{}")
    return Message(**data)
