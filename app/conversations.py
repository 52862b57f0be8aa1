"""Conversations and their messages, as stored in the database."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from typing import Any

from app.store import Store

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
AT_END = object()  # add_message's default parent: the end of the branch shown


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
        """The branch shown: from the first message to the conversation's current end."""
        leaf = self.store.scalar("SELECT leaf_id FROM conversations WHERE id=?", (conversation_id,))
        return self.path_to(leaf)

    def path_to(self, message_id: int | None) -> builtins.list[Message]:
        """The messages from the first one to `message_id`, oldest first ([] for None)."""
        if message_id is None:
            return []
        rows = self.store.query(
            "WITH RECURSIVE path(id) AS (SELECT ? UNION ALL "
            "SELECT m.parent_id FROM messages m JOIN path p ON m.id = p.id "
            "WHERE m.parent_id IS NOT NULL) "
            "SELECT m.* FROM messages m JOIN path p ON m.id = p.id ORDER BY m.id",
            (message_id,),
        )
        return [_message(row) for row in rows]

    def all_messages(self, conversation_id: int) -> builtins.list[Message]:
        """Every message of every branch, oldest first (export, search)."""
        rows = self.store.query(
            "SELECT * FROM messages WHERE conversation_id=? ORDER BY id", (conversation_id,)
        )
        return [_message(row) for row in rows]

    def siblings(self, message_id: int) -> builtins.list[int]:
        """The versions of a message (itself, its regenerations or edits), oldest first."""
        row = self.store.query_one(
            "SELECT conversation_id, parent_id, role FROM messages WHERE id=?", (message_id,)
        )
        if row is None:
            return []
        rows = self.store.query(
            "SELECT id FROM messages WHERE conversation_id=? AND parent_id IS ? AND role=? "
            "ORDER BY id",
            (row["conversation_id"], row["parent_id"], row["role"]),
        )
        return [int(r["id"]) for r in rows]

    def branches(self, conversation_id: int) -> dict[int, builtins.list[int]]:
        """For each message shown that has other versions: all its versions, oldest first."""
        rows = self.store.query(
            "SELECT id, parent_id, role FROM messages WHERE conversation_id=? ORDER BY id",
            (conversation_id,),
        )
        versions: dict[tuple[int | None, str], builtins.list[int]] = {}
        for row in rows:
            versions.setdefault((row["parent_id"], row["role"]), []).append(int(row["id"]))
        shown = {m.id for m in self.messages(conversation_id)}
        return {
            message_id: group
            for group in versions.values()
            if len(group) > 1
            for message_id in group
            if message_id in shown
        }

    def switch_to(self, message_id: int) -> None:
        """Show the branch through this version of a message (its latest continuation)."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT conversation_id FROM messages WHERE id=?", (message_id,)
            ).fetchone()
            if row is None:
                return
            conn.execute(
                "UPDATE conversations SET leaf_id=? WHERE id=?",
                (_latest_end(conn, message_id), row["conversation_id"]),
            )

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
        parent_id: int | object | None = AT_END,
    ) -> int:
        """Add a message after `parent_id` (by default after the branch shown; None starts a
        new first message) and show its branch."""
        with self.store.transaction() as conn:
            if parent_id is AT_END:
                parent_id = conn.execute(
                    "SELECT leaf_id FROM conversations WHERE id=?", (conversation_id,)
                ).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO messages(conversation_id, role, content, model, tokens, tok_s, meta, "
                "parent_id) VALUES(?,?,?,?,?,?,?,?)",
                (
                    conversation_id,
                    role,
                    content,
                    model,
                    tokens,
                    tok_s,
                    json.dumps(meta or {}),
                    parent_id,
                ),
            )
            new_id = int(cur.lastrowid or 0)
            conn.execute(
                f"UPDATE conversations SET leaf_id=?, updated_at={_NOW} WHERE id=?",
                (new_id, conversation_id),
            )
            return new_id

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
        """Delete a message with what follows it on its branch; the conversation then shows
        the latest remaining branch from the same point."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT conversation_id, parent_id FROM messages WHERE id=?", (message_id,)
            ).fetchone()
            if row is None:
                return
            conn.execute("DELETE FROM messages WHERE id=?", (message_id,))
            conv, parent = row["conversation_id"], row["parent_id"]
            if parent is None:
                first = conn.execute(
                    "SELECT max(id) FROM messages WHERE conversation_id=? AND parent_id IS NULL",
                    (conv,),
                ).fetchone()[0]
                leaf = _latest_end(conn, first) if first is not None else None
            else:
                leaf = _latest_end(conn, parent)
            conn.execute("UPDATE conversations SET leaf_id=? WHERE id=?", (leaf, conv))

    def delete_messages_from(self, conversation_id: int, message_id: int) -> int:
        """Delete a message and every later one in its conversation; returns how many went."""
        with self.store.transaction() as conn:
            where = "FROM messages WHERE conversation_id=? AND id>=?"
            # counted first: deleting a message also deletes its replies (ON DELETE CASCADE)
            count = conn.execute(f"SELECT count(*) {where}", (conversation_id, message_id))
            gone = int(count.fetchone()[0])
            conn.execute(f"DELETE {where}", (conversation_id, message_id))
            conn.execute(
                "UPDATE conversations SET leaf_id=(SELECT max(id) FROM messages "
                "WHERE conversation_id=?) WHERE id=?",
                (conversation_id, conversation_id),
            )
            return gone

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


def _latest_end(conn: Any, message_id: int) -> int:
    """Follow the newest reply from a message down to the end of its branch."""
    current = message_id
    while True:
        row = conn.execute("SELECT max(id) FROM messages WHERE parent_id=?", (current,)).fetchone()
        if row[0] is None:
            return current
        current = int(row[0])


def _message(row: Any) -> Message:
    data = dict(row)
    data["meta"] = json.loads(data.get("meta") or "{}")
    return Message(**data)
