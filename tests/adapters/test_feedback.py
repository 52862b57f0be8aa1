"""Feedback storage and the JSONL import format of `hearth feedback import`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.adapters import dataset
from app.adapters.feedback import FeedbackStore
from app.errors import HearthError
from app.store import open_store


@pytest.fixture
def feedback():
    with open_store() as store:
        yield FeedbackStore(store)


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_import_and_list(feedback: FeedbackStore, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "f.jsonl",
        [
            {"prompt": "Hi", "response": "Hello.", "correction": "Ahoy! Hello."},
            {"prompt": "Sky?", "response": "Blue.", "rating": 1},
            {"prompt": "Grass?", "response": "Red.", "rating": -1},
        ],
    )
    assert feedback.import_jsonl(path) == 3
    items = feedback.list()
    assert [i.kind for i in items] == ["edit", "rating", "rating"]
    assert [i.target() for i in items] == ["Ahoy! Hello.", "Blue.", None]
    assert feedback.count() == 3 and feedback.count_trainable() == 2


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        (json.dumps({"response": "x", "rating": 1}), "'prompt'"),
        (json.dumps({"prompt": "p", "response": "x"}), "needs a 'correction' or a 'rating'"),
        (json.dumps({"prompt": "p", "response": "x", "rating": 5}), "+1 or -1"),
        (json.dumps({"prompt": "p", "response": "x", "rating": True}), "+1 or -1"),
    ],
)
def test_bad_line_imports_nothing(
    feedback: FeedbackStore, tmp_path: Path, line: str, reason: str
) -> None:
    good = json.dumps({"prompt": "a", "response": "b", "rating": 1})
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(HearthError, match="line 2") as err:
        feedback.import_jsonl(path)
    assert reason in str(err.value)
    assert feedback.count() == 0


def test_statements_edits_of_messages_and_delete(feedback: FeedbackStore) -> None:
    store = feedback.store
    conv = store.execute("INSERT INTO conversations (title) VALUES ('t')")
    store.execute(
        "INSERT INTO messages (conversation_id, role, content) VALUES (?, 'user', 'Q?')", (conv,)
    )
    answer = store.execute(
        "INSERT INTO messages (conversation_id, role, content) VALUES (?, 'assistant', 'A.')",
        (conv,),
    )
    edit = feedback.edit_message(answer, "Ahoy! A.")
    rate = feedback.rate_message(answer, -1)
    statement = feedback.add_statement("keep answers short")
    got = feedback.get(edit)
    assert got is not None and (got.prompt, got.response, got.correction) == (
        "Q?",
        "A.",
        "Ahoy! A.",
    )
    assert got.source_message_id == answer
    assert feedback.get(statement).statement == "keep answers short"  # type: ignore[union-attr]
    split = dataset.build(feedback.list())
    assert split.statements == ["keep answers short"]
    assert feedback.delete(rate) and not feedback.delete(rate)
    with pytest.raises(HearthError):
        feedback.rate_message(999, 1)


def test_feedback_on_a_branch_pairs_the_answer_with_its_own_question(
    feedback: FeedbackStore,
) -> None:
    """Ask, edit the question and resend, then regenerate the first answer: the regenerated
    answer (the newest message) answers the first question, not the edited one."""
    from app.conversations import Conversations

    conversations = Conversations(feedback.store)
    conv = conversations.create("branches")
    first = conversations.add_message(conv, "user", "Name a fruit.", parent_id=None)
    conversations.add_message(conv, "assistant", "A pear.", parent_id=first)
    edited = conversations.add_message(conv, "user", "Name a vegetable.", parent_id=None)
    conversations.add_message(conv, "assistant", "A leek.", parent_id=edited)
    again = conversations.add_message(conv, "assistant", "An apple.", parent_id=first)
    got = feedback.get(feedback.edit_message(again, "Ahoy! An apple."))
    assert got is not None and (got.prompt, got.response) == ("Name a fruit.", "An apple.")


def test_split_is_deterministic_and_holds_back_a_fifth() -> None:
    examples = [dataset.Example(f"prompt {i}", f"answer {i}", i) for i in range(20)]
    first = dataset.split(examples)
    again = dataset.split(list(reversed(examples)))
    assert len(first.held) == 4 and len(first.train) == 16
    assert first.held == again.held and first.train == again.train
    assert not set(first.held) & set(first.train)
    assert dataset.split(examples[:1]).held == []


def test_later_edit_of_the_same_answer_wins(feedback: FeedbackStore) -> None:
    feedback.add("Q", "A", correction="first")
    feedback.add("Q", "A", correction="second")
    assert [e.target for e in dataset.examples_from_feedback(feedback.list())] == ["second"]
