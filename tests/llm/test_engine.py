"""The engine with the real default model: streaming, cancel, adapters cleared, closing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cancel import CancelToken
from app.errors import ModelError
from app.llm.engine import Engine, GenerationStats, threads_alive

HELLO = [{"role": "user", "content": "Name three colours."}]


def test_streams_real_tokens(engine: Engine) -> None:
    stats = GenerationStats()
    chunks = list(engine.chat(HELLO, max_tokens=24, temperature=0, stats=stats))
    assert len(chunks) >= 5
    assert stats.tokens == len(chunks)
    assert "".join(chunks).strip()
    assert stats.tok_s > 0
    assert engine.model_info is not None and engine.model_info.architecture == "llama"


def test_greedy_is_deterministic(engine: Engine) -> None:
    first = engine.generate_text(HELLO, max_tokens=16, temperature=0)
    second = engine.generate_text(HELLO, max_tokens=16, temperature=0)
    assert first == second


def test_cancel_stops_within_one_token_and_next_prompt_works(engine: Engine) -> None:
    cancel = CancelToken()
    stats = GenerationStats()
    received = []
    prompt = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
    for chunk in engine.chat(prompt, max_tokens=200, temperature=0, cancel=cancel, stats=stats):
        received.append(chunk)
        if len(received) == 3:
            cancel.cancel()
    # After cancel the worker produces at most the token already in flight.
    assert stats.cancelled
    assert len(received) == 3
    assert stats.tokens <= 4
    after = engine.generate_text(HELLO, max_tokens=8, temperature=0)
    assert after.strip()


def test_closing_the_stream_early_frees_the_worker(engine: Engine) -> None:
    stream = engine.chat(HELLO, max_tokens=100, temperature=0)
    next(stream)
    stream.close()
    assert not engine.busy
    assert engine.generate_text(HELLO, max_tokens=4, temperature=0)


def test_busy_listener_sees_start_and_end(engine: Engine) -> None:
    seen: list[bool] = []
    engine.add_busy_listener(seen.append)
    try:
        engine.generate_text(HELLO, max_tokens=4, temperature=0)
    finally:
        engine.remove_busy_listener(seen.append)
    assert seen == [True, False]


def test_json_schema_output_is_valid_json(engine: Engine) -> None:
    import json

    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"],
    }
    text = engine.generate_text(
        [{"role": "user", "content": "Give a colour as JSON."}],
        max_tokens=40,
        temperature=0,
        json_schema=schema,
    )
    assert isinstance(json.loads(text)["colour"], str)


def test_bad_model_keeps_the_previous_one(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match=r"bad\.gguf"):
        engine.load(bad).result()
    assert engine.generate_text(HELLO, max_tokens=4, temperature=0)


def test_close_leaves_no_thread(default_model: Path) -> None:
    eng = Engine(n_threads=1, n_ctx=256)
    eng.load(default_model).result()
    eng.generate_text(HELLO, max_tokens=2, temperature=0)
    eng.close()
    alive = [t for t in threading.enumerate() if t.name.startswith("hearth-engine")]
    # the module fixture's engine is still open; this one's thread must be gone
    assert len(alive) <= 1
    assert len(threads_alive()) == len(alive)


def test_failed_switch_leaves_chat_working(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 100)
    with pytest.raises(ModelError):
        engine.load(bad).result()
    info = engine.wait_loaded()  # the model still in use answers
    assert info.architecture == "llama"


def _in_thread(fn: object, timeout: float = 120) -> list[object]:
    """Run `fn` on another thread; [result] if it finished in time, [] if it hung."""
    out: list[object] = []

    def run() -> None:
        out.append(fn())  # type: ignore[operator]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return out


def test_stream_closed_from_another_thread_frees_the_engine(engine: Engine) -> None:
    streams: list[Iterator[str]] = []

    def start() -> str:
        stream = engine.chat(HELLO, max_tokens=100, temperature=0)
        streams.append(stream)
        return next(stream)

    assert _in_thread(start)
    assert _in_thread(lambda: streams[0].close() or True)  # closed by a third thread
    assert not engine.busy
    assert _in_thread(lambda: engine.generate_text(HELLO, max_tokens=4, temperature=0))


def test_a_stream_nobody_reads_does_not_lock_the_engine(engine: Engine) -> None:
    engine.abandon_after_s = 0.3
    try:
        stream = engine.chat(HELLO, max_tokens=100, temperature=0)
        next(stream)  # then never read again, never closed
        got = _in_thread(lambda: engine.generate_text(HELLO, max_tokens=4, temperature=0))
        assert got and str(got[0]).strip()
        assert list(stream) == []  # the abandoned stream ended; it yields nothing more
    finally:
        engine.abandon_after_s = 10.0


def test_background_generation_keeps_the_conversation_cache(engine: Engine) -> None:
    convo = [{"role": "system", "content": "You are brief."}, *HELLO]
    first = GenerationStats()
    reply = "".join(engine.chat(convo, max_tokens=12, temperature=0, stats=first))
    cached = engine.cached_tokens
    with engine.background():
        side = engine.generate_text(
            [{"role": "user", "content": "Say one word about the sea."}],
            max_tokens=24,
            temperature=0,
        )
    assert side.strip()
    assert engine.cached_tokens == cached  # the main context was not touched
    follow = [*convo, {"role": "assistant", "content": reply}, {"role": "user", "content": "Why?"}]
    second = GenerationStats()
    "".join(engine.chat(follow, max_tokens=4, temperature=0, stats=second))
    assert second.cached_before == cached
    assert second.prompt_evaluated == second.prompt_tokens - cached  # only the new tokens
    assert second.prompt_evaluated < 20
