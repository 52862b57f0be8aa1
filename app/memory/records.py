"""Memory records as the rest of the code sees them, and their rows in SQLite."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

KINDS = ("fact", "preference", "note", "event")
SOURCE_TYPES = ("manual", "message", "import", "file")

COLUMNS = (
    "id, text, kind, source_type, source_message_id, conversation_id, source_ref, source_ids, "
    "batch, seq, subject, created_at, updated_at, last_used_at, use_count, pinned, superseded_by"
)


@dataclass(frozen=True)
class Memory:
    id: int
    text: str
    kind: str
    source_type: str
    source_message_id: int | None
    conversation_id: int | None
    source_ref: str | None
    source_ids: list[str]
    batch: str | None
    seq: int | None
    subject: str | None
    created_at: str
    updated_at: str
    last_used_at: str | None
    use_count: int
    pinned: bool
    superseded_by: int | None

    @property
    def source(self) -> str:
        """Where the memory came from, in words a user can follow."""
        if self.source_type == "message" and self.source_message_id is not None:
            conv = f"conversation {self.conversation_id}, " if self.conversation_id else ""
            return f"{conv}message {self.source_message_id}"
        if self.source_type == "file" and self.source_ref:
            return f"file {self.source_ref}"
        if self.source_type == "import":
            return "imported " + ", ".join(self.source_ids) if self.source_ids else "imported"
        return "added by you"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "kind": self.kind,
            "pinned": self.pinned,
            "source": self.source,
            "source_type": self.source_type,
            "source_message_id": self.source_message_id,
            "conversation_id": self.conversation_id,
            "source_ids": self.source_ids,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_used_at": self.last_used_at,
        }


def from_row(row: sqlite3.Row) -> Memory:
    raw = row["source_ids"]
    source_ids: list[str] = []
    if raw and raw != "[]":  # most memories have none: a search reads a hundred rows
        try:
            source_ids = [str(s) for s in json.loads(raw)]
        except ValueError:
            source_ids = []
    return Memory(
        id=int(row["id"]),
        text=row["text"],
        kind=row["kind"],
        source_type=row["source_type"],
        source_message_id=row["source_message_id"],
        conversation_id=row["conversation_id"],
        source_ref=row["source_ref"],
        source_ids=source_ids,
        batch=row["batch"],
        seq=row["seq"],
        subject=row["subject"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_used_at=row["last_used_at"],
        use_count=int(row["use_count"] or 0),
        pinned=bool(row["pinned"]),
        superseded_by=row["superseded_by"],
    )


@dataclass(frozen=True)
class NewMemory:
    """What a caller hands in to be stored."""

    text: str
    kind: str = "fact"
    source_type: str = "manual"
    source_message_id: int | None = None
    conversation_id: int | None = None
    source_ref: str | None = None
    source_ids: list[str] = field(default_factory=list)
    batch: str | None = None
    seq: int | None = None
    subject: str | None = None
    created_at: str | None = None
    pinned: bool = False


@dataclass(frozen=True)
class RecalledMemory:
    """One memory recalled for a turn (the assistant hook's contract)."""

    id: int
    text: str
    kind: str
    source: str
    score: float
    created_at: str = ""
    source_message_id: int | None = None
    conversation_id: int | None = None


@dataclass
class SearchHit:
    """One search result; `source_ids` covers every record whose text the hit carries."""

    id: int
    text: str
    score: float
    kind: str = "fact"
    source_ids: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    dense: float = 0.0
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_ids": self.source_ids,
            "text": self.text,
            "score": round(float(self.score), 6),
        }


def insert_sql() -> str:
    return (
        "INSERT INTO memories (text, kind, source_type, source_message_id, conversation_id, "
        "source_ref, source_ids, batch, seq, subject, created_at, updated_at, pinned, embedding) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "COALESCE(?, strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
        "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?)"
    )


def insert_params(new: NewMemory, blob: bytes) -> tuple[Any, ...]:
    return (
        new.text,
        new.kind,
        new.source_type,
        new.source_message_id,
        new.conversation_id,
        new.source_ref,
        json.dumps(new.source_ids),
        new.batch,
        new.seq,
        new.subject,
        new.created_at,
        int(new.pinned),
        blob,
    )
