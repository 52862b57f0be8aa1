"""What Hearth knows about the user: memories by person or topic, the one-line summary and the
user's correction of it, the message a memory came from."""

from __future__ import annotations

from typing import Any

from app.conversations import Conversations
from app.memory.profile import grouped, topic_of


def test_memories_group_by_person_and_topic(memory: Any) -> None:
    for text, kind in [
        ("My sister is called Ana", "fact"),
        ("My sister lives in Lisbon", "fact"),
        ("I work as a nurse", "fact"),
        ("My dog Biscuit is a beagle", "fact"),
        ("I love ramen", "preference"),
        ("The sky was grey today", "note"),
    ]:
        memory.add(text, kind)
    groups = dict(grouped(memory.memories()))
    assert [m.text for m in groups["Sister"]] == [
        "My sister lives in Lisbon",
        "My sister is called Ana",
    ]
    assert [m.text for m in groups["Work"]] == ["I work as a nurse"]
    assert [m.text for m in groups["Dog"]] == ["My dog Biscuit is a beagle"]
    assert [m.text for m in groups["Likes and dislikes"]] == ["I love ramen"]
    assert list(dict(grouped(memory.memories())))[-1] == "Other"
    assert grouped([]) == []


def test_summary_says_the_facts_back_and_takes_a_correction(memory: Any) -> None:
    assert memory.summary() == ""
    memory.add("My sister is called Ana", subject="sister name")
    memory.add("I live in Rotterdam", subject="home city")
    memory.add("The sky was grey today", kind="note")
    line = memory.summary()
    assert line == "You live in Rotterdam; your sister is called Ana."
    assert "sky" not in line and "\n" not in line

    first = memory.correct_summary("  I'm Sam, a nurse in Rotterdam  ")
    assert memory.summary() == "I'm Sam, a nurse in Rotterdam"
    fixed = memory.get(first.memory_id)
    assert fixed.pinned and topic_of(fixed) == "About you"
    # A second correction replaces the first: one summary, never two.
    memory.correct_summary("I'm Sam, a nurse who moved to Utrecht")
    assert memory.summary() == "I'm Sam, a nurse who moved to Utrecht"
    assert sum(m.subject == "about me" for m in memory.memories()) == 1
    # What the user wrote about themselves reaches the answers too.
    assert any("Utrecht" in r.text for r in memory.recall("where did I move to?"))


def test_source_message_is_one_lookup_away(memory: Any, store: Any) -> None:
    conversations = Conversations(store)
    conv = conversations.create()
    said = "Hello! My sister is called Ana and she lives in Lisbon."
    msg = conversations.add_message(conv, "user", said)
    [change] = memory.observe(conv, msg, said, "Nice!")
    mem = memory.get(change.memory_id)
    assert memory.source_text(mem) == said
    assert memory.source_text(memory.get(memory.add("I like tea").memory_id)) is None
