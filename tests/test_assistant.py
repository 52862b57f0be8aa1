"""One turn through the assistant with the real model: events, persistence, stop mid-reply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.assistant import Assistant, Done, Failed, Recalled, Token
from app.cancel import CancelToken
from app.core import Core
from app.errors import ModelError
from app.settings import Settings, save_settings


@pytest.fixture
def core() -> Iterator[Core]:
    c = Core.open(load_model=True, n_threads=1)
    c.assistant.memory = None
    c.settings.max_tokens = 24
    c.settings.temperature = 0.0
    c.engine.wait_loaded()
    yield c
    c.close()


def test_a_turn_streams_and_is_saved(core: Core) -> None:
    conv = core.conversations.create()
    events = list(core.assistant.send(conv, "Name a colour."))
    tokens = [e.text for e in events if isinstance(e, Token)]
    done = events[-1]
    assert isinstance(done, Done) and not done.cancelled and tokens
    saved = core.conversations.messages(conv)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[1].content == "".join(tokens)
    assert saved[1].tokens == done.tokens
    assert core.conversations.get(conv).title == "Name a colour."  # type: ignore[union-attr]


def test_stopping_keeps_what_was_written(core: Core) -> None:
    core.settings.max_tokens = 200
    conv = core.conversations.create()
    cancel = CancelToken()
    got = []
    for event in core.assistant.send(conv, "Tell me a long story.", cancel):
        if isinstance(event, Token):
            got.append(event.text)
            if len(got) == 2:
                cancel.cancel()
        last = event
    assert isinstance(last, Done) and last.cancelled
    saved = core.conversations.messages(conv)[-1]
    assert saved.content == "".join(got) and saved.meta["cancelled"] is True


@dataclass
class _Mem:
    id: int
    text: str


class _RecordingMemory:
    """A memory hook that records what the assistant passes it (the real one is tested in
    tests/memory); here the point is where its block lands in the prompt."""

    def __init__(self) -> None:
        self.observed: list[tuple[Any, ...]] = []

    def recall(self, query: str, conversation_id: int | None) -> list[_Mem]:
        return [_Mem(7, "The user's sister is called Ana.")]

    def prompt_block(self, recalled: list[_Mem]) -> str:
        return "<memories>" + " ".join(m.text for m in recalled) + "</memories>"

    def observe(self, *args: Any) -> list[Any]:
        self.observed.append(args)
        return []


def test_memories_are_reported_and_stored_with_the_answer(core: Core) -> None:
    hook = _RecordingMemory()
    assistant = Assistant(core.store, core.engine, memory=hook, settings=core.settings)
    conv = core.conversations.create()
    events = list(assistant.send(conv, "What is my sister called?"))
    assistant.wait_idle()
    recalled = [e for e in events if isinstance(e, Recalled)]
    assert recalled and recalled[0].memories[0].id == 7
    answer = core.conversations.messages(conv)[-1]
    assert answer.meta["memories_used"] == [7]
    assert hook.observed and hook.observed[0][2] == "What is my sister called?"
    # the stored user message is what the user typed, not the prompt with memories
    assert core.conversations.messages(conv)[0].content == "What is my sister called?"


@pytest.fixture
def small_core() -> Iterator[Core]:
    """A core whose model context holds 512 tokens, so a conversation outgrows it quickly."""
    save_settings(
        Settings(context_tokens=512, max_tokens=16, temperature=0.0, memory_enabled=False)
    )
    c = Core.open(load_model=True, n_threads=1)
    c.engine.wait_loaded()
    yield c
    c.close()


def test_a_conversation_longer_than_the_context_still_answers(small_core: Core) -> None:
    prompts: list[list[dict[str, str]]] = []
    chat = small_core.engine.chat

    def watching(messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        prompts.append(messages)
        return chat(messages, **kwargs)

    small_core.engine.chat = watching  # type: ignore[method-assign]
    conv = small_core.conversations.create()
    starts = []
    for i in range(14):
        events = list(small_core.assistant.send(conv, f"Fact number {i}: " + "tea " * 20))
        done = events[-1]
        assert isinstance(done, Done), events
        starts.append(done.context_start)
    assert starts[0] is None and starts[-1] is not None  # older turns were left out
    stored = small_core.conversations.messages(conv)
    assert len(stored) == 28 and all(m.content for m in stored)
    assert stored[-1].meta["context_start"] == starts[-1]
    newest = "Fact number 13: " + "tea " * 19 + "tea"
    assert stored[-2].content == newest
    sent = prompts[-1]
    assert sent[0]["role"] == "system" and sent[-1] == {"role": "user", "content": newest}
    assert sent[1]["role"] == "user" and len(sent) < 28


def test_a_message_longer_than_the_context_is_refused_and_nothing_stored(
    small_core: Core,
) -> None:
    conv = small_core.conversations.create()
    events = list(small_core.assistant.send(conv, "word " * 800))
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert "context" in events[0].message and "Settings" in events[0].message
    assert small_core.conversations.messages(conv) == []
    # and the conversation goes on
    assert isinstance(list(small_core.assistant.send(conv, "Hello."))[-1], Done)


def test_a_failed_turn_stores_no_empty_answer(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Iterator[str]:
        raise ModelError("the model stopped working")
        yield ""

    monkeypatch.setattr(core.engine, "chat", broken)
    conv = core.conversations.create()
    events = list(core.assistant.send(conv, "Name a colour."))
    assert isinstance(events[-1], Failed) and "stopped working" in events[-1].message
    assert core.conversations.messages(conv) == []


TWENTY_TURNS = [
    "I spent the weekend painting our kitchen a pale green.",
    "What colour goes well with pale green?",
    "Name a houseplant.",
    "Our neighbours just adopted two rescue greyhounds.",
    "How long do greyhounds live?",
    "Give me a word that rhymes with tea.",
    "I finally finished reading War and Peace last night.",
    "Who wrote it?",
    "Name a river in Spain.",
    "What is the capital of Norway?",
] * 2


def test_follow_ups_evaluate_only_their_new_tokens_with_memory_and_extraction() -> None:
    save_settings(Settings(max_tokens=12, temperature=0.0, memory_enabled=True))
    core = Core.open(load_model=True, n_threads=1)
    core.engine.wait_loaded()
    try:
        _twenty_turns(core)
    finally:
        core.close()


def _twenty_turns(core: Core) -> None:
    conv = core.conversations.create()
    evaluated_new: list[tuple[int, int]] = []
    for i, text in enumerate(TWENTY_TURNS):
        cached = core.engine.cached_tokens  # extraction of the last turn may still be running
        events = list(core.assistant.send(conv, text))
        done = events[-1]
        assert isinstance(done, Done), events
        if i > 0:
            evaluated_new.append((done.prompt_evaluated, done.prompt_tokens - cached))
        if i % 4 == 3:
            # a pause in the conversation: extraction runs on the same engine meanwhile
            core.assistant.wait_idle(timeout=120)
    core.assistant.wait_idle(timeout=120)
    assert all(evaluated == new for evaluated, new in evaluated_new), evaluated_new
    assert core.engine.background_generations > 0  # the model extractor did run
    assert core.memory.count() > 0
    assert all(new < 120 for _, new in evaluated_new)  # never the whole conversation again


def test_regenerate_keeps_both_answers_as_versions(core: Core) -> None:
    core.settings.temperature = 0.9
    conv = core.conversations.create()
    first = list(core.assistant.send(conv, "Name a colour."))[-1]
    assert isinstance(first, Done)
    again = list(core.assistant.regenerate(first.assistant_message_id or 0))
    done = again[-1]
    assert isinstance(done, Done) and done.user_message_id == first.user_message_id
    shown = core.conversations.messages(conv)
    assert [m.id for m in shown] == [first.user_message_id, done.assistant_message_id]
    versions = core.conversations.siblings(done.assistant_message_id or 0)
    assert versions == [first.assistant_message_id, done.assistant_message_id]
    core.conversations.switch_to(versions[0])
    assert core.conversations.messages(conv)[-1].id == first.assistant_message_id


def test_edit_and_resend_branches_and_switches_back(core: Core) -> None:
    conv = core.conversations.create()
    list(core.assistant.send(conv, "Name a fruit."))
    list(core.assistant.send(conv, "Name a city."))
    old = core.conversations.messages(conv)
    question = old[2]
    events = list(core.assistant.edit(question.id, "Name a river."))
    assert isinstance(events[-1], Done)
    new = core.conversations.messages(conv)
    assert [m.content for m in new[:2]] == [old[0].content, old[1].content]
    assert new[2].content == "Name a river." and new[2].parent_id == old[1].id
    assert core.conversations.branches(conv) == {new[2].id: [question.id, new[2].id]}
    core.conversations.switch_to(question.id)
    assert [m.id for m in core.conversations.messages(conv)] == [m.id for m in old]
    # an edit of the very first message starts a second first branch
    list(core.assistant.edit(old[0].id, "Name a tree."))
    assert core.conversations.messages(conv)[0].content == "Name a tree."
    assert len(core.conversations.all_messages(conv)) == 8


def test_one_title_function_never_cuts_a_word() -> None:
    from app.conversations import title_for

    text = "Could you explain how a heat pump moves warmth from outside into a house?"
    title = title_for(text)
    assert title.endswith("…") and len(title) <= 49
    assert text.startswith(title[:-1]) and text[len(title) - 1] == " "
    assert title_for("  short   question ") == "short question"
    assert title_for("x" * 80) == "x" * 48 + "…"
