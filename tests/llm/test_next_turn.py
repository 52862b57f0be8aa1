"""The next turn's opening tokens are evaluated when an answer ends (app.llm.next_turn), with
the real default model: a follow-up then evaluates only its own message and the assistant
header, and the cache still holds exactly the prompt llama-cpp-python formats."""

from __future__ import annotations

from app.llm import next_turn
from app.llm.engine import Engine, GenerationStats

SYSTEM = {"role": "system", "content": "You are brief."}


def _prompt_tokens(engine: Engine, messages: list[dict[str, str]]) -> list[int]:
    """The follow-up's prompt as llama-cpp-python tokenizes it."""

    def render(llama: object) -> list[int]:
        formatter = next_turn.formatter_for(llama)
        assert formatter is not None  # the default model formats with its own template
        prompt = formatter(messages=messages).prompt
        return list(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))  # type: ignore[attr-defined]

    return engine.call(render)


def test_a_follow_up_evaluates_only_its_message(engine: Engine) -> None:
    convo = [SYSTEM, {"role": "user", "content": "Name a fruit."}]
    first = GenerationStats()
    reply = "".join(engine.chat(convo, max_tokens=16, temperature=0, stats=first))
    assert first.prepared_next >= 3  # at least the end marker and the user header
    cached = engine.cached_tokens
    question = "And a vegetable?"
    follow = [
        *convo,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": question},
    ]
    second = GenerationStats()
    "".join(engine.chat(follow, max_tokens=4, temperature=0, stats=second))
    assert second.cached_before == cached
    assert second.prompt_evaluated == second.prompt_tokens - cached
    # what was left: the question and the assistant header ("<|im_end|>\n<|im_start|>assistant\n")
    words = len(engine.call(lambda llama: llama.tokenize(question.encode(), add_bos=False)))
    assert second.prompt_evaluated <= words + 6
    # the cache holds the follow-up's prompt token for token: nothing stale was kept
    expected = _prompt_tokens(engine, follow)
    held = engine.call(lambda llama: list(llama.input_ids[: len(expected)]))
    assert held == expected


def test_a_next_message_that_starts_otherwise_still_matches(engine: Engine) -> None:
    """Messages beginning with a digit, punctuation or a non-Latin letter tokenize on their
    own after the header, so the prepared tokens stay a prefix of every follow-up."""
    convo = [SYSTEM, {"role": "user", "content": "Say hello."}]
    stats = GenerationStats()
    reply = "".join(engine.chat(convo, max_tokens=8, temperature=0, stats=stats))
    assert stats.prepared_next >= 3  # the cache holds the next turn's opening tokens
    base = [*convo, {"role": "assistant", "content": reply}]
    cached = engine.call(lambda llama: list(llama.input_ids[: llama.n_tokens]))
    for question in ("42 is what?", "¿Qué tal?", "«Why» not?", "日本語で", "- a list"):
        tokens = _prompt_tokens(engine, [*base, {"role": "user", "content": question}])
        assert tokens[: len(cached)] == cached, question


def test_a_cancelled_answer_prepares_nothing(engine: Engine) -> None:
    from app.cancel import CancelToken

    cancel = CancelToken()
    stats = GenerationStats()
    for _ in engine.chat(
        [{"role": "user", "content": "Count to twenty."}],
        max_tokens=64,
        temperature=0,
        cancel=cancel,
        stats=stats,
    ):
        cancel.cancel()
    assert stats.cancelled and stats.prepared_next == 0


def test_a_failed_preparation_leaves_the_answer_and_the_cache_usable() -> None:
    """A fault in llama.cpp while preparing (injected) is logged, never raised into a reply
    that has already been shown in full."""
    from types import SimpleNamespace

    class Failing:
        n_tokens = 3
        input_ids = (1, 2, 3)

        def n_ctx(self) -> int:
            return 64

        def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
            return [1, 2, 3, 4, 5, text[-1]]  # shared 4 and 5, then the user's text

        def eval(self, tokens: list[int]) -> None:
            raise RuntimeError("llama_decode returned -3")

    def formatter(messages: list[dict[str, str]]) -> SimpleNamespace:
        return SimpleNamespace(prompt=messages[-1]["content"])

    llama = Failing()
    assert next_turn.prepare(llama, formatter, [], "reply") == 0
    assert llama.n_tokens == 3  # nothing claimed as cached that was not evaluated
