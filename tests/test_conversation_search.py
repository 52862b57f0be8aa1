"""Search across conversations (FTS5) and export, over a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.conversation_search import HIT_END, HIT_START, export, parse_markdown, search
from app.conversations import Conversations
from app.errors import HearthError
from app.store import Store, open_store


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store() as db:
        yield db


def _fill(conversations: Conversations) -> tuple[int, int]:
    old = conversations.create("Garden")
    conversations.add_message(old, "user", "How deep should I plant tulip bulbs?")
    conversations.add_message(old, "assistant", "Plant tulip bulbs about 15 cm deep, in autumn.")
    new = conversations.create("Cooking")
    conversations.add_message(new, "user", "A quick recipe with lentils, please.")
    conversations.add_message(new, "assistant", "Red lentil soup: onion, garlic, cumin.")
    return old, new


def test_search_finds_a_message_in_an_old_conversation(store: Store) -> None:
    conversations = Conversations(store)
    old, _ = _fill(conversations)
    hits = search(store, "tulip")
    assert {h.conversation_id for h in hits} == {old}
    assert all(f"{HIT_START}tulip{HIT_END}" in h.snippet.lower() for h in hits)
    assert "<b>tulip</b>" in hits[0].snippet_html().lower()
    assert [h.conversation_title for h in hits] == ["Garden", "Garden"]
    assert search(store, "lent")[0].role in ("user", "assistant")  # the last word is a prefix
    assert search(store, 'tulip "deep -(autumn:') != []  # FTS syntax is never parsed
    assert search(store, "tulip lentils") == []  # every word must be there
    assert search(store, "  ?!  ") == []


def test_the_index_follows_edits_and_deletes(store: Store) -> None:
    conversations = Conversations(store)
    old, new = _fill(conversations)
    message = conversations.messages(new)[0].id
    conversations.update_message(message, content="A quick recipe with chickpeas.")
    assert [h.message_id for h in search(store, "chickpeas")] == [message]
    assert all(h.message_id != message for h in search(store, "lentils"))
    conversations.delete(old)
    assert search(store, "tulip") == []


def test_the_migration_indexes_messages_stored_before_it(hearth_home: object) -> None:
    from app import paths

    with open_store() as db:
        conversations = Conversations(db)
        old, _ = _fill(conversations)
        with db.transaction() as conn:  # back to the schema before message search
            for trigger in ("messages_fts_ai", "messages_fts_ad", "messages_fts_au"):
                conn.execute(f"DROP TRIGGER {trigger}")
            conn.execute("DROP TABLE messages_fts")
            conn.execute("PRAGMA user_version=5")
    with Store(paths.db_path()) as db:
        assert db.schema_version() >= 6
        assert {h.conversation_id for h in search(db, "tulip bulbs")} == {old}


def test_exports_parse_back(store: Store) -> None:
    conversations = Conversations(store)
    old, _ = _fill(conversations)
    question = conversations.messages(old)[0]
    conversations.add_message(old, "user", "And daffodils?", parent_id=question.parent_id)
    data = json.loads(export(conversations, old, "json"))
    stored = conversations.all_messages(old)
    assert data["title"] == "Garden" and len(data["messages"]) == 3
    assert [(m["id"], m["parent_id"], m["role"], m["content"]) for m in data["messages"]] == [
        (m.id, m.parent_id, m.role, m.content) for m in stored
    ]
    title, pairs = parse_markdown(export(conversations, old, "md"))
    assert title == "Garden"
    assert pairs == [(m.role, m.content) for m in conversations.messages(old)]
    with pytest.raises(HearthError, match="no conversation"):
        export(conversations, 999, "md")
