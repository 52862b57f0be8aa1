"""Stated preferences: recognised in chat, stored as feedback, in the system prompt of the next
answers (byte for byte stable), editable through `hearth feedback`, and in the system prompt a
training job is given. The chat runs on the real default model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.adapters import statements
from app.adapters.feedback import FeedbackStore
from app.assistant import Done
from app.cli import main as cli_main
from app.core import Core
from app.errors import Cancelled

STATED = [
    ("keep answers short", "- Keep answers short."),
    ("Call me Sam.", "- Call the user Sam."),
    ("never use emoji", "- Never use emoji."),
    ("Please answer in French", "- Please answer in French."),
    ("I prefer short answers", "- The user prefers short answers."),
    ("End every answer with 'Cheers!'", "- End every answer with 'Cheers!'."),
    ("Don't use bullet points.", "- Don't use bullet points."),
]
NOT_STATED = [
    "What is the capital of France?",
    "Tell me about Rome.",
    "My sister is called Ana.",
    "Write a poem about the sea.",
    "I like cats.",
    "never mind",
    "Can you keep answers short?",
    "Make a list of fruits.",
]


@pytest.mark.parametrize(("text", "line"), STATED)
def test_statements_are_recognised_and_written_for_the_model(text: str, line: str) -> None:
    found = statements.detect(text)
    assert found is not None
    assert statements.line(found) == line


@pytest.mark.parametrize("text", NOT_STATED)
def test_other_messages_are_not_statements(text: str) -> None:
    assert statements.detect(text) is None


class _Spy:
    """Records the messages each reply was given; the real engine still answers."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.sent: list[list[dict[str, str]]] = []
        self._chat = engine.chat

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> Any:
        self.sent.append([dict(m) for m in messages])
        return self._chat(messages, **kwargs)


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> Iterator[Core]:
    opened = Core.open(load_model=True, n_threads=1)
    opened.assistant.memory = None
    opened.settings.max_tokens = 12
    opened.settings.temperature = 0.0
    opened.engine.wait_loaded()
    yield opened
    opened.close()


def _say(core: Core, conversation: int, text: str) -> Done:
    events = list(core.assistant.send(conversation, text))
    assert isinstance(events[-1], Done), events[-1]
    return events[-1]


def test_a_stated_preference_is_stored_and_carried_by_the_next_answers(
    core: Core, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    spy = _Spy(core.engine)
    monkeypatch.setattr(core.engine, "chat", spy.chat)
    conv = core.conversations.create()
    base = core.settings.system_prompt

    _say(core, conv, "Name a colour.")
    assert spy.sent[-1][0] == {"role": "system", "content": base}

    _say(core, conv, "Call me Sam.")
    feedback = FeedbackStore(core.store).list("statement")
    assert [f.statement for f in feedback] == ["Call me Sam"]
    # It applies at once: the answer to the statement itself already carries it.
    system = spy.sent[-1][0]["content"]
    assert system == f"{base}\n\n{statements.HEADER}\n- Call the user Sam."

    done = _say(core, conv, "Name a fruit.")
    assert spy.sent[-1][0]["content"] == system  # byte for byte: the cached prefix holds
    assert done.prompt_evaluated < done.prompt_tokens

    # Saying it again stores nothing new; a preference added through the CLI applies next.
    _say(core, conv, "call me Sam")
    assert cli_main(["feedback", "prefer", "never use emoji"]) == 0
    _say(core, conv, "Name an animal.")
    assert spy.sent[-1][0]["content"].endswith("- Call the user Sam.\n- Never use emoji.")

    # Visible, editable and deletable in `hearth feedback`.
    capsys.readouterr()
    assert cli_main(["feedback", "list"]) == 0
    listing = capsys.readouterr().out
    assert "statement  Call me Sam" in listing and "statement  never use emoji" in listing
    sam, emoji = FeedbackStore(core.store).list("statement")
    assert cli_main(["feedback", "edit", str(sam.id), "call me Samantha"]) == 0
    assert cli_main(["feedback", "delete", str(emoji.id)]) == 0
    _say(core, conv, "Name a tree.")
    assert spy.sent[-1][0]["content"].endswith(f"{statements.HEADER}\n- Call the user Samantha.")
    assert cli_main(["feedback", "edit", "9999", "x"]) == 2
    assert "no preference statement with id 9999" in capsys.readouterr().err


def test_training_is_given_the_chat_system_prompt_with_the_statements(core: Core) -> None:
    service = core.adapters
    for n in range(4):
        service.feedback.add(f"Question {n}?", "An answer.", correction=f"Answer {n}. Cheers!")
    statements.note(core.store, "keep answers short")
    service.feedback.add_statement("never use emoji")
    chat_system = core.settings.system_prompt + statements.for_turn(core.store, "Hello")
    given: dict[str, Any] = {}

    def started(job: Any) -> None:
        given.update(job.spec)
        job.cancel()  # the spec is what is under test, not the training

    with pytest.raises(Cancelled):
        service.train(on_started=started)
    assert given["system"] == chat_system
    assert given["system"].endswith("- Keep answers short.\n- Never use emoji.")
    assert given["split"]["statements"] == ["keep answers short", "never use emoji"]
