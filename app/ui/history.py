"""What the window shows for stored messages, prepared off the GUI thread.

`load_history` turns a conversation's messages into plain entries (text, figures, recalled
memories, rating) so that the GUI thread only builds widgets. `memory_refs` does the same for the
memories of a live Recalled event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.ui.message_widget import MemoryRef


@dataclass(frozen=True)
class Entry:
    role: str
    text: str
    message_id: int
    figures: str = ""
    rating: int = 0
    memories: list[MemoryRef] = field(default_factory=list)


def figures(model: str | None, tokens: int | None, tok_s: float | None, stopped: bool) -> str:
    parts = []
    if model:
        parts.append(model)
    if tokens:
        parts.append(f"{tokens} tokens")
    if tok_s:
        parts.append(f"{tok_s:.1f} tok/s")
    if stopped:
        parts.append("stopped")
    return " · ".join(parts)


def memory_refs(recalled: list[Any]) -> list[MemoryRef]:
    """RecalledMemory objects (id, text, kind, source, score) as the window shows them."""
    refs = []
    for mem in recalled:
        refs.append(
            MemoryRef(
                id=int(getattr(mem, "id", 0)),
                text=str(getattr(mem, "text", mem)),
                kind=str(getattr(mem, "kind", "fact") or "fact"),
                source=str(getattr(mem, "source", "") or ""),
                conversation_id=getattr(mem, "conversation_id", None),
            )
        )
    return refs


def lookup_memories(store: Any, ids: list[int]) -> dict[int, MemoryRef]:
    """Memories by id, for answers loaded from the database (deleted ones are simply absent)."""
    if not ids:
        return {}
    marks = ",".join("?" for _ in ids)
    rows = store.query(
        f"SELECT id, text, kind, source_type, conversation_id FROM memories WHERE id IN ({marks})",
        list(ids),
    )
    return {
        int(row["id"]): MemoryRef(
            id=int(row["id"]),
            text=row["text"],
            kind=row["kind"],
            source=_source_label(row["source_type"], row["conversation_id"]),
            conversation_id=row["conversation_id"],
        )
        for row in rows
    }


def _source_label(source_type: str, conversation_id: int | None) -> str:
    if source_type == "message" and conversation_id is not None:
        return "from a conversation"
    return {"manual": "added by you", "import": "imported", "file": "from your notes"}.get(
        source_type, source_type
    )


def load_history(core: Any, conversation_id: int) -> list[Entry]:
    messages = core.conversations.messages(conversation_id)
    wanted = sorted(
        {int(i) for m in messages for i in (m.meta or {}).get("memories_used", []) or []}
    )
    known = lookup_memories(core.store, wanted)
    entries = []
    for m in messages:
        if m.role == "system":
            continue
        meta = m.meta or {}
        if m.role == "user":
            entries.append(Entry("user", m.content, m.id))
            continue
        used = [known[int(i)] for i in meta.get("memories_used", []) or [] if int(i) in known]
        entries.append(
            Entry(
                "assistant",
                m.content,
                m.id,
                figures(m.model, m.tokens, m.tok_s, bool(meta.get("cancelled"))),
                int(meta.get("rating", 0) or 0),
                used,
            )
        )
    return entries
