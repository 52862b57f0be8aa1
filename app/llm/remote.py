"""A remote engine: chat completions streamed from a server of the user's own over HTTP.

Any server with the OpenAI-compatible subset (llama.cpp's server, llama-cpp-python's, Ollama,
vLLM): `GET /v1/models`, `POST /v1/chat/completions` with `stream: true` (server-sent events),
an optional Bearer key. It offers the same `chat` generator as the embedded engine, so the
assistant does not care which one answers. Nothing here decides which host may be reached: the
network guard does, from the servers the user added (`app.llm.servers`).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.cancel import CancelToken
from app.errors import ModelError
from app.llm.base import register
from app.llm.engine import GenerationStats

CUT_OFF = "cut_off"  # GenerationStats.finish_reason when the server went away mid-answer


class RemoteError(ModelError):
    """A server of the user's own could not answer: down, too slow, or refused the request."""


@dataclass(frozen=True)
class RemoteOptions:
    connect_timeout_s: float = 5.0
    # Longest wait for the next piece of the answer (the first one includes reading the prompt).
    read_timeout_s: float = 60.0
    retries: int = 2  # extra attempts to connect; never once the answer has started
    backoff_s: float = 0.25
    n_ctx: int = 4096  # the server's context; the OpenAI subset does not report it


@dataclass(frozen=True)
class RemoteModelInfo:
    name: str  # the model id the server answers with
    engine: str  # the name the user gave the server
    url: str
    models: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name


@dataclass
class RemoteEngine:
    url: str
    name: str = "remote"
    api_key: str | None = None
    model: str | None = None  # None: the server's first (usually only) model
    options: RemoteOptions = field(default_factory=RemoteOptions)
    # Added to every chat request: how this server picks the user's adapter, if it can.
    request_extra: dict[str, Any] = field(default_factory=dict)
    avoid_models: tuple[str, ...] = ()  # never chosen by default (they carry an adapter)
    transport: httpx.BaseTransport | None = None  # fault injection in tests only
    # Asked before each reply, with the server's model list: (model, request_extra,
    # avoid_models) as things stand now, so that activating or dropping the user's adapter
    # takes effect on the next reply.
    planner: Callable[[list[str]], tuple[str | None, dict[str, Any], tuple[str, ...]]] | None = None

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[: -len("/v1")]
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(self.options.read_timeout_s, connect=self.options.connect_timeout_s)
        # No proxies or .netrc from the environment: the request goes to this server only.
        common: dict[str, Any] = {
            "base_url": self.url,
            "headers": headers,
            "timeout": timeout,
            "trust_env": False,
        }
        self._client = httpx.Client(transport=self.transport, **common)
        # Replies get a connection of their own (opened per reply, a fraction of a millisecond
        # on a local network), so that a Stop can shut down exactly that socket, even while
        # the server has not sent a byte yet.
        self._stream_client = httpx.Client(
            transport=self.transport, limits=httpx.Limits(max_keepalive_connections=0), **common
        )
        self.model_info: RemoteModelInfo | None = None
        self._offered: tuple[str, ...] = ()  # the last model list the server sent
        self._count_path: str | bool | None = None  # None: not tried; False: none works
        self._counts: dict[str, int] = {}

    @property
    def n_ctx(self) -> int:
        return self.options.n_ctx

    # -- the server's models -----------------------------------------------------------------
    def models(self) -> list[str]:
        """The model ids the server offers (`GET /v1/models`)."""
        response = self._request("GET", "/v1/models")
        try:
            data = response.json().get("data") or []
            offered = [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
            self._offered = tuple(offered)
            return offered
        except (ValueError, KeyError, AttributeError) as exc:
            raise RemoteError(
                f"{self.name} ({self.url}) sent a model list Hearth cannot read"
            ) from exc

    def wait_loaded(self, timeout: float | None = None) -> RemoteModelInfo:
        """Reach the server once and settle which model answers; later calls are free."""
        del timeout  # the connect and read timeouts bound it
        if self.model_info is not None:
            return self.model_info
        offered = self.models()
        if not offered:
            raise RemoteError(f"{self.name} ({self.url}) offers no model")
        if self.model is not None and self.model not in offered:
            # Some servers answer an unknown name with their default model: never rely on it.
            raise RemoteError(
                f"{self.name} does not offer the model {self.model!r}; "
                f"it offers: {', '.join(offered)}"
            )
        usable = [m for m in offered if m not in self.avoid_models]
        if self.model is None and not usable:
            raise RemoteError(f"{self.name} offers only models Hearth must not use here")
        chosen = self.model or usable[0]
        self.model_info = RemoteModelInfo(chosen, self.name, self.url, tuple(offered))
        return self.model_info

    def count_tokens(self, text: str) -> int:
        """The server's own count when it has an endpoint for it, else a safe over-estimate."""
        if text in self._counts:
            return self._counts[text]
        count = self._server_count(text) if self._count_path is not False else None
        if count is None:
            # ~4 bytes a token in English; 3 over-estimates, so the prompt still fits.
            count = math.ceil(len(text.encode("utf-8")) / 3) + 1
        if len(self._counts) > 4096:
            self._counts.clear()
        self._counts[text] = count
        return count

    def _server_count(self, text: str) -> int | None:
        model = self.model_info.name if self.model_info else self.model
        # llama-cpp-python's server, then llama.cpp's; Ollama and vLLM have neither here.
        candidates = (
            [self._count_path]
            if isinstance(self._count_path, str)
            else [
                "/extras/tokenize/count",
                "/tokenize",
            ]
        )
        for path in candidates:
            body: dict[str, Any] = (
                {"input": text, "model": model} if path.startswith("/extras") else {"content": text}
            )
            try:
                response = self._client.post(path, json=body)
                if response.status_code != 200:
                    continue
                obj = response.json()
                count = obj["count"] if "count" in obj else len(obj["tokens"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
            self._count_path = path
            return int(count)
        self._count_path = False
        return None

    # -- chat --------------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Stream the reply's text chunks. Cancelling stops at the next chunk and closes the
        connection (the server stops generating); a server lost mid-answer raises RemoteError
        after the chunks that did arrive, with `stats.finish_reason` set to `cut_off`."""
        cancel = cancel or CancelToken()
        stats = stats if stats is not None else GenerationStats()
        started = time.perf_counter()
        self._replan()
        body: dict[str, Any] = {
            "model": self.wait_loaded().name,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": max(temperature, 0.0),
            **self.request_extra,
        }
        if seed is not None:
            body["seed"] = seed
        if json_schema is not None:
            body["response_format"] = {"type": "json_object", "schema": json_schema}
        response: httpx.Response | None = None
        watch: _CancelWatch | None = None
        finished = False
        try:
            watch = _CancelWatch(cancel)
            response = self._open_stream(body, cancel, watch)
            if response is None:
                return
            for data in _sse_data(response.iter_lines()):
                if cancel.cancelled:
                    break
                if data == "[DONE]":
                    finished = True
                    break
                text = self._read_chunk(data, stats)
                if text:
                    if stats.tokens == 0:
                        stats.first_token_s = time.perf_counter() - started
                    stats.tokens += 1
                    stats.seconds = time.perf_counter() - started
                    yield text
            else:
                # The stream ended without [DONE]: complete only if the server said why it ended.
                finished = stats.finish_reason is not None
                if not finished:
                    raise httpx.RemoteProtocolError("the answer ended without its last message")
        except httpx.TimeoutException as exc:
            if cancel.cancelled:
                return  # the watch shut the connection: a stop, not a failure
            stats.finish_reason = CUT_OFF if stats.tokens else stats.finish_reason
            raise RemoteError(self._slow_message(stats.tokens)) from exc
        except httpx.HTTPError as exc:
            if cancel.cancelled:
                return
            stats.finish_reason = CUT_OFF if stats.tokens else stats.finish_reason
            if stats.tokens:
                raise RemoteError(
                    f"{self.name} stopped answering mid-reply ({_reason(exc)}); "
                    "what arrived is kept"
                ) from exc
            raise RemoteError(f"{self.name} ({self.url}) broke off: {_reason(exc)}") from exc
        finally:
            stats.cancelled = cancel.cancelled or not finished
            if watch is not None:
                watch.stop()
            if response is not None:
                response.close()
            if stats.tokens == 0:
                stats.seconds = time.perf_counter() - started

    def _replan(self) -> None:
        if self.planner is None:
            return
        model, extra, avoid = self.planner(list(self._offered) or self.models())
        if (model, avoid) != (self.model, self.avoid_models):
            self.model, self.avoid_models = model, avoid
            self.model_info = None  # settled again against the server's list
        self.request_extra = dict(extra)

    def _read_chunk(self, data: str, stats: GenerationStats) -> str | None:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise RemoteError(
                f"{self.name} sent a message Hearth cannot read: {data[:80]}"
            ) from exc
        if not isinstance(obj, dict):
            return None
        if obj.get("error"):
            error = obj["error"]
            detail = error.get("message") if isinstance(error, dict) else error
            raise RemoteError(f"{self.name} reported an error: {detail}")
        usage = obj.get("usage")
        if isinstance(usage, dict) and usage.get("prompt_tokens"):
            stats.prompt_tokens = int(usage["prompt_tokens"])
        choices = obj.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            stats.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta") or {}
        content = delta.get("content")
        return content if isinstance(content, str) else None

    def generate_text(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(self.chat(messages, **kwargs))

    # -- HTTP ------------------------------------------------------------------------------
    def _open_stream(
        self, body: dict[str, Any], cancel: CancelToken, watch: _CancelWatch
    ) -> httpx.Response | None:
        request = self._stream_client.build_request(
            "POST", "/v1/chat/completions", json=body, extensions={"trace": watch.trace}
        )
        return self._send(request, stream=True, cancel=cancel, client=self._stream_client)

    def _request(self, method: str, path: str) -> httpx.Response:
        response = self._send(self._client.build_request(method, path))
        assert response is not None
        return response

    def _send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        cancel: CancelToken | None = None,
        client: httpx.Client | None = None,
    ) -> httpx.Response | None:
        """Send with retries while the server cannot be reached; None when cancelled first."""
        client = client or self._client
        last = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 1))
            if cancel is not None and cancel.cancelled:
                return None
            try:
                response = client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                if cancel is not None and cancel.cancelled:
                    return None  # the Stop shut the connection down
                if isinstance(exc, httpx.ConnectTimeout):
                    last = "no answer to the connection"
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise RemoteError(self._slow_message(0)) from exc
                if isinstance(
                    exc, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)
                ):
                    last = _reason(exc)
                    continue
                raise RemoteError(f"{self.name} ({self.url}): {_reason(exc)}") from exc
            if response.status_code in (502, 503, 504):
                last = f"HTTP {response.status_code}"
                response.close()
                continue
            if response.status_code >= 400:
                raise RemoteError(self._refused_message(response))
            return response
        raise RemoteError(
            f"cannot reach {self.name} at {self.url} ({last}); is the server running? "
            "You can switch back to the local model."
        )

    def _refused_message(self, response: httpx.Response) -> str:
        try:
            detail = response.read().decode("utf-8", "replace")[:200]
        finally:
            response.close()
        if response.status_code in (401, 403):
            return f"{self.name} refused the API key (HTTP {response.status_code})"
        if response.status_code in (404, 405):
            return (
                f"{self.name} ({self.url}) has no OpenAI-compatible API at "
                f"{response.request.url.path}; check the address and the port"
            )
        return f"{self.name} refused the request (HTTP {response.status_code}): {detail}"

    def _slow_message(self, tokens: int) -> str:
        wait = self.options.read_timeout_s
        if tokens:
            return (
                f"{self.name} stopped answering mid-reply (nothing for {wait:g} s); "
                "what arrived is kept"
            )
        return (
            f"{self.name} ({self.url}) accepted the connection but did not answer within {wait:g} s"
        )

    def close(self) -> None:
        self._client.close()
        self._stream_client.close()


class _CancelWatch:
    """During a reply, a cancel also shuts its connection down, so a read blocked on a silent
    server (before the first byte or mid-answer) returns at once instead of after the read
    timeout. Closing the socket from another thread would not wake that read; shutting it down
    does. The socket is learnt from the HTTP library's trace of the connect."""

    def __init__(self, cancel: CancelToken) -> None:
        self._cancel = cancel
        self._done = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="hearth-remote-cancel", daemon=True)
        self._thread.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            get = getattr(info.get("return_value"), "get_extra_info", None)
            found = get("socket") if callable(get) else None
            if isinstance(found, socket.socket):
                self._sock = found
                if self._cancel.cancelled:
                    self._shutdown()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            if self._cancel.cancelled:
                self._shutdown()
                return

    def _shutdown(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream (comments and pings skipped)."""
    pending: list[str] = []
    for line in lines:
        if not line:
            if pending:
                yield "\n".join(pending)
                pending = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            pending.append(value[1:] if value.startswith(" ") else value)
        elif line.startswith("error:"):
            raise RemoteError(f"the server reported an error: {line[6:].strip()}")
    if pending:
        yield "\n".join(pending)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


@register("openai")
def build(**options: Any) -> RemoteEngine:
    return RemoteEngine(**options)
