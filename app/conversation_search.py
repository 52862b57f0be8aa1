"""Search every message of every conversation, and export a conversation as Markdown or JSON.

Search runs on SQLite's FTS5 index of messages (migration 6). Whatever the user types is turned
into plain words (FTS5 syntax such as quotes, `-` or `:` never reaches the parser), all of which
must appear; the last may be the start of a word, so results come while typing.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from app.conversations import Conversations
from app.errors import HearthError
from app.store import Store

# Around a matched word in a snippet; private-use characters cannot occur in what users type.
HIT_START, HIT_END = "\ue000", "\ue001"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    message_id: int
    conversation_id: int
    conversation_title: str
    role: str
    snippet: str  # the matched words between HIT_START and HIT_END
    created_at: str

    def snippet_html(self) -> str:
        """The snippet as rich text, matched words in bold."""
        escaped = html.escape(self.snippet)
        return escaped.replace(HIT_START, "<b>").replace(HIT_END, "</b>")

    def snippet_marked(self, start: str = "**", end: str = "**") -> str:
        return self.snippet.replace(HIT_START, start).replace(HIT_END, end)


def fts_query(text: str) -> str:
    """The user's words as an FTS5 query: every word required, the last one as a prefix."""
    words = _WORD.findall(text)
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def search(store: Store, text: str, limit: int = 50) -> list[Hit]:
    """Messages holding all the words of `text`, best match first."""
    query = fts_query(text)
    if not query:
        return []
    rows = store.query(
        "SELECT m.id, m.conversation_id, c.title, m.role, m.created_at, "
        f"snippet(messages_fts, 0, '{HIT_START}', '{HIT_END}', '…', 16) AS snip "
        "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
        "JOIN conversations c ON c.id = m.conversation_id "
        "WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
        (query, limit),
    )
    return [
        Hit(
            message_id=int(r["id"]),
            conversation_id=int(r["conversation_id"]),
            conversation_title=str(r["title"]),
            role=str(r["role"]),
            snippet=" ".join(str(r["snip"]).split()),
            created_at=str(r["created_at"]),
        )
        for r in rows
    ]


def hit_json(hit: Hit) -> dict[str, Any]:
    data = asdict(hit)
    data["snippet"] = hit.snippet_marked()
    return data


# -- export ----------------------------------------------------------------------------------
ROLE_HEADINGS = {"user": "You", "assistant": "Hearth", "system": "System"}


def export(conversations: Conversations, conversation_id: int, fmt: str) -> str:
    """The conversation as Markdown (the branch shown, for reading) or JSON (every message of
    every branch, with `parent_id`, so nothing is lost)."""
    conv = conversations.get(conversation_id)
    if conv is None:
        raise HearthError(f"there is no conversation {conversation_id}")
    if fmt == "json":
        messages = conversations.all_messages(conversation_id)
        return json.dumps(
            {
                "id": conv.id,
                "title": conv.title,
                "created_at": conv.created_at,
                "updated_at": conv.updated_at,
                "shown_until": conv.leaf_id,
                "messages": [
                    {
                        "id": m.id,
                        "parent_id": m.parent_id,
                        "role": m.role,
                        "content": m.content,
                        "created_at": m.created_at,
                        "model": m.model,
                        "tokens": m.tokens,
                    }
                    for m in messages
                ],
            },
            ensure_ascii=False,
            indent=2,
        )
    if fmt == "md":
        parts = [f"# {conv.title}", ""]
        for m in conversations.messages(conversation_id):
            parts += [f"## {ROLE_HEADINGS.get(m.role, m.role)}", "", m.content.rstrip(), ""]
        return "\n".join(parts)
    raise HearthError(f"unknown export format {fmt!r}: use md or json")


def parse_markdown(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Read back an exported Markdown file: its title and (role, content) pairs."""
    roles = {v: k for k, v in ROLE_HEADINGS.items()}
    title = ""
    messages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# ") and not title and not messages:
            title = line[2:]
        elif line.startswith("## ") and line[3:] in roles:
            messages.append((roles[line[3:]], []))
        elif messages:
            messages[-1][1].append(line)
    return title, [(role, "\n".join(lines).strip()) for role, lines in messages]
