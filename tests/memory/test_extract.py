"""What gets remembered: explicit requests, rules, and model output that may be junk."""

from __future__ import annotations

from typing import Any

import pytest

from app.memory.extract import REGISTRY
from app.memory.extract_model import ModelExtractor, parse


def _extract(text: str) -> list[Any]:
    return [c for name in ("explicit", "rules") for c in REGISTRY[name]().extract(text, "")]


def test_explicit_remember_and_forget() -> None:
    [c] = _extract("Remember that my passport expires in March")
    assert (c.text, c.action) == ("My passport expires in March", "remember")
    [c] = _extract("please forget about my passport")
    assert (c.text, c.action) == ("My passport", "forget")


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("My sister is called Ana.", "sister name"),
        ("I'm allergic to peanuts, by the way.", "allergy peanuts"),
        ("I live in Lisbon", "home city"),
        ("My sister Ana lives in Porto", None),
    ],
)
def test_rules_find_self_statements(text: str, subject: str | None) -> None:
    found = _extract(text)
    assert found and found[0].subject == subject


@pytest.mark.parametrize(
    "text", ["What is my name?", "My question is why the sky is blue", "Tell me a joke", ""]
)
def test_rules_ignore_questions_and_chatter(text: str) -> None:
    assert _extract(text) == []


JUNK = [
    "",
    "{",
    "null",
    "[]",
    '"memories"',
    '{"memories": "my sister"}',
    '{"memories": [1, null, "x", {"text": 5}, {"kind": "fact"}]}',
    '{"memories": [{"text": "The user owns a yacht in Monaco", "kind": "fact"}]}',
    '{"memories": [{"text": "Is my sister called Ana?", "kind": "fact", "subject": 3}]}',
    "\x00\xff garbage",
]


@pytest.mark.parametrize("raw", JUNK)
def test_junk_model_output_never_crashes(raw: str) -> None:
    assert parse(raw, "My sister is called Ana and I like tea") == []


def test_grounded_model_output_is_kept() -> None:
    raw = (
        '{"memories": [{"text": "my sister is called Ana", "kind": "weird", "subject": "Sister"}]}'
    )
    [c] = parse(raw, "Oh and my sister is called Ana.")
    # The slot comes from the statement's shape, as for the rules, so either fills the same one.
    assert (c.text, c.kind, c.subject, c.origin) == (
        "My sister is called Ana",
        "fact",
        "sister name",
        "model",
    )


class _BrokenEngine:
    """Fault injection: an engine that fails or returns junk."""

    loaded = True

    def __init__(self, result: Any) -> None:
        self.result = result
        self.calls = 0

    def generate_text(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        assert kwargs.get("json_schema"), "extraction must be grammar-constrained"
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return str(self.result)


@pytest.mark.parametrize("result", [RuntimeError("llama died"), "{{{", '{"memories": 7}'])
def test_observe_survives_a_failing_model(memory: Any, result: Any) -> None:
    engine = _BrokenEngine(result)
    memory.extractors.append(ModelExtractor(engine))
    # No rule matches this one, so only the model is asked.
    assert memory.observe(None, None, "Mochi, a tiny cat, moved in with me last week", "Hi") == []
    assert engine.calls == 1 and memory.count() == 0
    # When the rules find the fact, the model is not asked and the engine stays free.
    changes = memory.observe(None, None, "I live in Berlin and my dog is called Rex", "Nice!")
    assert [c.text for c in changes] == ["I live in Berlin and my dog is called Rex"]
    assert engine.calls == 1


def test_model_candidates_are_stored(memory: Any) -> None:
    raw = '{"memories": [{"text": "Mochi moved in last week", "kind": "event", "subject": ""}]}'
    memory.extractors.append(ModelExtractor(_BrokenEngine(raw)))
    [change] = memory.observe(None, None, "Mochi, a tiny cat, moved in with me last week", "Hi")
    assert change.action == "added" and memory.get(change.memory_id).kind == "event"


@pytest.mark.parametrize(
    ("raw", "said", "kept"),
    [
        # A fragment is useless out of context: the user's sentence holding it is kept.
        (
            '{"memories": [{"text": "2019", "kind": "fact", "subject": "year"}]}',
            "Hi there. Joined the company back in 2019, time flies.",
            "Joined the company back in 2019, time flies",
        ),
        # A subject that echoes the instructions' example is no slot of this memory.
        (
            '{"memories": [{"text": "Mochi moved in last week", "kind": "fact", '
            '"subject": "short slot name, e.g. sister name"}]}',
            "Mochi, a tiny cat, moved in with me last week",
            "Mochi moved in last week",
        ),
    ],
)
def test_model_output_is_made_to_stand_alone(raw: str, said: str, kept: str) -> None:
    [c] = parse(raw, said)
    assert (c.text, c.subject) == (kept, None)


def test_observe_remembers_then_forgets(memory: Any) -> None:
    added = memory.observe(None, None, "Remember that my passport expires in March", "OK")
    assert [c.action for c in added] == ["added"]
    assert memory.recall("when does my passport expire?")[0].text == "My passport expires in March"
    gone = memory.observe(None, None, "Please forget my passport", "Done")
    assert [c.action for c in gone] == ["forgot"]
    assert memory.recall("when does my passport expire?") == []


def test_observe_moves_replace_the_old_city(memory: Any) -> None:
    memory.observe(None, None, "I live in Berlin.", "")
    [change] = memory.observe(None, None, "I moved to Lisbon last month", "")
    assert change.action == "replaced"
    assert [m.text for m in memory.memories()] == ["I moved to Lisbon last month"]


def test_real_model_extraction_is_valid_json(default_model: Any) -> None:
    import json

    from app.llm.engine import Engine
    from app.memory.extract_model import INSTRUCTIONS, SCHEMA

    engine = Engine(n_threads=1, n_ctx=1024)
    try:
        engine.load(default_model).result()
        text = "My sister is called Ana and she lives in Porto."
        raw = engine.generate_text(
            [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}],
            max_tokens=160,
            temperature=0.0,
            seed=0,
            json_schema=SCHEMA,
        )
        data = json.loads(raw)  # the grammar makes even a 135M model emit valid JSON
        assert isinstance(data["memories"], list)
        for cand in ModelExtractor(engine).extract(text, ""):
            assert cand.kind in ("fact", "preference", "note", "event") and cand.text
    finally:
        engine.close()
