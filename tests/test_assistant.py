"""One turn through the assistant with the real model: events, persistence, stop mid-reply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.assistant import Assistant, Done, Recalled, Token
from app.cancel import CancelToken
from app.core import Core


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
