"""The remote engine against llama-cpp-python's real OpenAI-compatible server on loopback.

Streaming, the model list, cancel, the API key, token counts; and the failures a user meets:
the server killed mid-answer, not running, or accepting the connection and never answering.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cancel import CancelToken
from app.llm.base import ChatEngine
from app.llm.engine import Engine, GenerationStats
from app.llm.remote import CUT_OFF, RemoteEngine, RemoteError, RemoteOptions
from tests.llm.remote_server import LlamaServer, SilentServer, free_port

KEY = "test-key-1234"
ALIAS = "smollm2"
HELLO = [{"role": "user", "content": "Name three colours."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
FAST = RemoteOptions(connect_timeout_s=2.0, read_timeout_s=30.0, retries=1, backoff_s=0.05)


@pytest.fixture(scope="module")
def server(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(
        [{"model": str(default_model), "model_alias": ALIAS}],
        tmp_path_factory.mktemp("llama-server"),
        api_key=KEY,
    )
    yield srv
    srv.stop()


@pytest.fixture
def remote(server: LlamaServer) -> Iterator[RemoteEngine]:
    engine = RemoteEngine(server.url, name="desk", api_key=KEY, options=FAST)
    yield engine
    engine.close()


def test_both_engines_offer_the_same_interface(remote: RemoteEngine) -> None:
    assert isinstance(remote, ChatEngine)
    assert isinstance(Engine(n_threads=1), ChatEngine)


def test_model_list_and_the_model_that_answers(remote: RemoteEngine) -> None:
    assert remote.models() == [ALIAS]
    info = remote.wait_loaded()
    assert info.name == ALIAS and info.engine == "desk"
    assert remote.model_info is info


def test_streams_the_servers_own_answer_chunk_by_chunk(remote: RemoteEngine) -> None:
    stats = GenerationStats()
    chunks = list(remote.chat(HELLO, max_tokens=24, temperature=0, seed=0, stats=stats))
    assert len(chunks) >= 5
    assert stats.tokens == len(chunks)
    assert stats.finish_reason == "length"
    assert not stats.cancelled
    assert stats.tok_s > 0
    # The same request, not streamed, straight to the server: the pieces add up to its answer.
    whole = httpx.post(
        f"{remote.url}/v1/chat/completions",
        json={"model": ALIAS, "messages": HELLO, "max_tokens": 24, "temperature": 0, "seed": 0},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    ).json()
    assert "".join(chunks) == whole["choices"][0]["message"]["content"]


def test_cancel_stops_within_one_chunk_and_the_server_stops(
    remote: RemoteEngine, server: LlamaServer
) -> None:
    cancel = CancelToken()
    stats = GenerationStats()
    received = []
    for chunk in remote.chat(STORY, max_tokens=300, temperature=0, cancel=cancel, stats=stats):
        received.append(chunk)
        if len(received) == 3:
            cancel.cancel()
    assert len(received) == 3
    assert stats.cancelled and stats.tokens == 3
    # The connection was closed, so the server noticed and stopped generating.
    deadline = time.monotonic() + 20
    while "Disconnected from client" not in server.log.read_text():
        assert time.monotonic() < deadline, "the server kept generating after cancel"
        time.sleep(0.1)
    assert remote.generate_text(HELLO, max_tokens=4, temperature=0).strip()


def test_closing_the_stream_early_closes_the_request(remote: RemoteEngine) -> None:
    stream = remote.chat(HELLO, max_tokens=100, temperature=0)
    next(stream)
    stream.close()
    assert remote.generate_text(HELLO, max_tokens=4, temperature=0).strip()


def test_count_tokens_is_the_servers_own_count(remote: RemoteEngine) -> None:
    text = "My sister Ana lives in Lisbon."
    with httpx.Client() as client:
        own = client.post(
            f"{remote.url}/extras/tokenize/count",
            json={"input": text},
            headers={"Authorization": f"Bearer {KEY}"},
        ).json()["count"]
    assert remote.count_tokens(text) == own


def test_count_tokens_falls_back_to_an_over_estimate_without_an_endpoint() -> None:
    # Fault injection: a server with no tokenizer endpoint (as Ollama and vLLM have none).
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    engine = RemoteEngine("http://127.0.0.1:9", transport=transport)
    text = "My sister Ana lives in Lisbon and works as a nurse."
    assert engine.count_tokens(text) >= len(text) // 3
    assert engine._count_path is False  # asked once, then never again
    engine.close()


def test_a_wrong_api_key_is_refused_plainly(server: LlamaServer) -> None:
    engine = RemoteEngine(server.url, name="desk", api_key="wrong", options=FAST)
    with pytest.raises(RemoteError, match="refused the API key"):
        engine.models()
    engine.close()


def test_a_model_the_server_does_not_offer_is_never_assumed(server: LlamaServer) -> None:
    engine = RemoteEngine(server.url, name="desk", api_key=KEY, model="big-70b", options=FAST)
    with pytest.raises(RemoteError, match=f"does not offer the model 'big-70b'.*{ALIAS}"):
        list(engine.chat(HELLO, max_tokens=4))
    engine.close()


def test_server_not_running_gives_a_clear_message() -> None:
    port = free_port()
    engine = RemoteEngine(f"http://127.0.0.1:{port}", name="desk", options=FAST)
    stats = GenerationStats()
    with pytest.raises(RemoteError, match=r"cannot reach desk at .*is the server running"):
        list(engine.chat(HELLO, max_tokens=4, stats=stats))
    assert stats.tokens == 0
    engine.close()


def test_a_server_that_never_answers_times_out() -> None:
    silent = SilentServer()
    options = RemoteOptions(connect_timeout_s=2.0, read_timeout_s=0.5, retries=0)
    engine = RemoteEngine(silent.url, name="desk", model=ALIAS, options=options)
    try:
        with pytest.raises(RemoteError, match=r"accepted the connection but did not answer"):
            engine.models()
        assert silent.accepted  # it did connect: the wait was for the answer
    finally:
        engine.close()
        silent.close()


def test_server_killed_mid_answer_keeps_what_arrived(default_model: Path, tmp_path: Path) -> None:
    srv = LlamaServer([{"model": str(default_model), "model_alias": ALIAS}], tmp_path)
    engine = RemoteEngine(srv.url, name="desk", options=FAST)
    stats = GenerationStats()
    received: list[str] = []
    try:
        with pytest.raises(RemoteError, match=r"stopped answering mid-reply.*kept"):
            for chunk in engine.chat(STORY, max_tokens=400, temperature=0, stats=stats):
                received.append(chunk)
                if len(received) == 3:
                    srv.kill()
    finally:
        engine.close()
        srv.stop()
    assert len(received) >= 3
    assert stats.tokens == len(received)
    assert stats.finish_reason == CUT_OFF and stats.cancelled


def test_a_busy_server_is_retried_before_giving_up() -> None:
    # Fault injection: two 503 answers (a server still loading its model), then the list.
    answers = [httpx.Response(503), httpx.Response(503)]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            return answers.pop(0)
        return httpx.Response(200, json={"object": "list", "data": [{"id": ALIAS}]})

    options = RemoteOptions(retries=2, backoff_s=0.01)
    engine = RemoteEngine(
        "http://127.0.0.1:9", options=options, transport=httpx.MockTransport(handler)
    )
    assert engine.models() == [ALIAS]
    answers[:] = [httpx.Response(503)] * 3
    with pytest.raises(RemoteError, match="HTTP 503"):
        engine.models()
    engine.close()


def test_stop_is_at_once_even_when_the_server_falls_silent_mid_answer() -> None:
    import threading

    silent = SilentServer(first_words="Once upon")
    # An hour's read timeout: only the cancel can end this reply early.
    options = RemoteOptions(read_timeout_s=3600.0, retries=0)
    engine = RemoteEngine(silent.url, name="desk", options=options)
    cancel = CancelToken()
    stats = GenerationStats()
    received: list[str] = []

    def reply() -> None:
        for chunk in engine.chat(HELLO, max_tokens=50, cancel=cancel, stats=stats):
            received.append(chunk)
            cancel.cancel()  # the user presses Stop while the server says nothing more

    worker = threading.Thread(target=reply, daemon=True)
    worker.start()
    worker.join(60)  # a hang detector, not a timing: without the stop this waits an hour
    hung = worker.is_alive()
    engine.close()
    silent.close()
    assert not hung, "the stop waited for the silent server"
    assert received == ["Once upon"]
    assert stats.cancelled and stats.finish_reason != CUT_OFF  # a stop, not a failure


def test_stop_is_at_once_while_the_server_has_not_answered_yet() -> None:
    import threading

    silent = SilentServer(lists_models=True)
    options = RemoteOptions(read_timeout_s=3600.0, retries=0)
    engine = RemoteEngine(silent.url, name="desk", options=options)
    cancel = CancelToken()
    stats = GenerationStats()
    received: list[str] = []

    def reply() -> None:
        received.extend(engine.chat(HELLO, max_tokens=50, cancel=cancel, stats=stats))

    worker = threading.Thread(target=reply, daemon=True)
    worker.start()
    while len(silent.accepted) < 2:  # the model list, then the chat's own connection
        worker.join(0.05)
    cancel.cancel()  # the user presses Stop while the server is still silent
    worker.join(60)  # a hang detector, not a timing: without the stop this waits an hour
    hung = worker.is_alive()
    engine.close()
    silent.close()
    assert not hung, "the stop waited for the silent server"
    assert received == [] and stats.cancelled and stats.tokens == 0


def test_an_address_without_the_api_is_named_plainly(server: LlamaServer) -> None:
    engine = RemoteEngine(f"{server.url}/somewhere", name="desk", api_key=KEY, options=FAST)
    with pytest.raises(RemoteError, match="has no OpenAI-compatible API at /somewhere/v1/models"):
        engine.models()
    engine.close()
