"""Prompt building: a stable prefix, memories only in the newest turn, the budget respected."""

from __future__ import annotations

import pytest

from app.llm.prompt import ContextError, Turn, build_messages, plan_turn


def words(text: str) -> int:
    return len(text.split())


def test_context_goes_into_the_newest_turn_only() -> None:
    history = [Turn("user", "hi"), Turn("assistant", "hello")]
    messages = build_messages(
        "sys",
        history,
        "question",
        context_block="<memories>x</memories>",
        n_ctx=1000,
        reserve_for_reply=100,
        count_tokens=words,
    )
    assert messages[0] == {"role": "system", "content": "sys"}
    assert messages[1:3] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert messages[-1]["content"].startswith("question")
    assert "<memories>" in messages[-1]["content"]
    assert all("<memories>" not in m["content"] for m in messages[:-1])


def test_prefix_is_stable_between_turns() -> None:
    history = [Turn("user", "a b"), Turn("assistant", "c d")]
    first = build_messages(
        "sys", history, "q1", n_ctx=1000, reserve_for_reply=10, count_tokens=words
    )
    history += [Turn("user", "q1"), Turn("assistant", "r1")]
    second = build_messages(
        "sys",
        history,
        "q2",
        context_block="mem",
        n_ctx=1000,
        reserve_for_reply=10,
        count_tokens=words,
    )
    assert second[: len(first) - 1] == first[:-1]


def test_oldest_turns_are_dropped_to_fit_and_history_starts_with_user() -> None:
    history = []
    for i in range(20):
        history += [Turn("user", f"question {i} " * 5), Turn("assistant", f"answer {i} " * 5)]
    messages = build_messages(
        "sys", history, "now", n_ctx=120, reserve_for_reply=20, count_tokens=words
    )
    total = sum(words(m["content"]) + 8 for m in messages)
    assert total <= 120 - 20 + 8
    assert messages[1]["role"] == "user"
    assert messages[-2]["content"].startswith("answer 19")


def _history(n: int) -> list[Turn]:
    turns = []
    for i in range(n):
        turns += [
            Turn("user", f"question {i} " * 5, id=2 * i + 1),
            Turn("assistant", f"answer {i} " * 5, id=2 * i + 2),
        ]
    return turns


def test_a_message_larger_than_the_context_is_refused() -> None:
    with pytest.raises(ContextError, match="tokens"):
        plan_turn("sys", [], "word " * 200, n_ctx=120, reserve_for_reply=20, count_tokens=words)


def test_a_memory_block_that_does_not_fit_is_left_out_not_the_message() -> None:
    plan = plan_turn(
        "sys",
        [],
        "word " * 60,
        context_block="memory " * 50,
        n_ctx=120,
        reserve_for_reply=20,
        count_tokens=words,
    )
    assert not plan.block_used and plan.messages[-1]["content"] == "word " * 60


def test_context_start_moves_in_steps_and_stays_put_between_them() -> None:
    history = _history(20)
    plan = plan_turn("sys", history, "now", n_ctx=200, reserve_for_reply=20, count_tokens=words)
    assert plan.dropped > 0 and plan.start_id is not None
    assert plan.messages[1]["role"] == "user"
    assert plan.messages[1]["content"] == next(t.content for t in history if t.id == plan.start_id)
    # The next turn starts at the same message: its prefix is the one already cached.
    history += [Turn("user", "now", id=41), Turn("assistant", "ok", id=42)]
    nxt = plan_turn(
        "sys",
        history,
        "then",
        n_ctx=200,
        reserve_for_reply=20,
        count_tokens=words,
        previous_start=plan.start_id,
    )
    assert nxt.start_id == plan.start_id
    assert nxt.messages[: len(plan.messages) - 1] == plan.messages[:-1]
    assert nxt.messages[-1]["content"] == "then"
