"""Prompt building: a stable prefix, memories only in the newest turn, the budget respected."""

from __future__ import annotations

from app.llm.prompt import Turn, build_messages


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
