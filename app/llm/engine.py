"""The engine: the one llama_cpp.Llama, used by one thread at a time.

Every use of the model holds the engine's lock, so the model is never used from two threads at
once. Loading runs on the engine's own background thread; a chat streams as a generator that
runs on the caller's thread (the window calls it from a worker, never the GUI thread). Streaming
on the caller's thread measured ~3-5% faster than handing each token across threads through a
queue: the per-token GIL hand-off is what it saves. Cancelling (the token, or closing the
generator) stops at the next token.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.cancel import CancelToken
from app.errors import ModelError
from app.llm import lora_swap, next_turn
from app.llm.background import BackgroundModel
from app.llm.llama_loader import free_cores, load_llama
from app.llm.models import display_name
from app.llm.prompt import ContextError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    architecture: str | None
    n_ctx: int
    n_threads: int
    load_s: float

    @property
    def label(self) -> str:
        """The name shown in the window and stored with each answer (not the metadata's)."""
        return display_name(self.path)


@dataclass
class GenerationStats:
    """Filled as a generation runs; read after the stream ends."""

    tokens: int = 0
    prompt_tokens: int = 0  # the whole prompt, in the model's tokens
    prompt_evaluated: int = 0  # of which llama.cpp evaluated (the rest was cached)
    cached_before: int = 0  # tokens in the model's cache when the generation began
    first_token_s: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False
    finish_reason: str | None = None
    # tokens of the next turn evaluated once the answer ended (app.llm.next_turn)
    prepared_next: int = 0

    @property
    def tok_s(self) -> float:
        decode = self.seconds - self.first_token_s
        return (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else 0.0


@dataclass
class _Adapters:
    loaded: dict[Path, lora_swap.LoadedAdapter] = field(default_factory=dict)
    active: list[tuple[Path, float]] = field(default_factory=list)


class Engine:
    def __init__(
        self, n_threads: int | None = None, n_ctx: int = 4096, n_gpu_layers: int = 0
    ) -> None:
        self.n_threads = n_threads or free_cores()
        self.n_ctx = n_ctx
        # Layers offloaded to a GPU when llama.cpp was built with one; 0 keeps all on the CPU.
        self.n_gpu_layers = n_gpu_layers
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-engine")
        # Held by every use of the model; re-entrant so a load's callbacks may set adapters.
        # A stream holds it only while a token is computed; between tokens its claim keeps
        # other users waiting (`_wait_free`) until it ends or is abandoned.
        self._lock = threading.RLock()
        self._free = threading.Condition(self._lock)
        self._claim: _Claim | None = None
        self.abandon_after_s = 10.0
        # A second context on the same mmap'd weights for background generations.
        self._background = BackgroundModel(self)
        self._llama: Any = None
        self._formatter: Any = None  # the model's chat template (app.llm.next_turn)
        self._adapters = _Adapters()
        self._loading: Future[ModelInfo] | None = None
        self.model_info: ModelInfo | None = None
        self._listeners: list[Callable[[bool], None]] = []
        self._busy = False
        self._closed = False

    # -- model -----------------------------------------------------------------------------
    def load(
        self,
        model_path: Path | Callable[[], Path],
        prepare: Callable[[ModelInfo], None] | None = None,
    ) -> Future[ModelInfo]:
        """Load a model in the background; on failure the previous model stays in use.

        `model_path` may be a function returning the path, so that finding the model (copying
        the packaged default on first run) also happens off the caller's thread. `prepare`
        runs with the model held before anyone can use it (putting the user's adapter back),
        so no reply is ever generated between the load and it.
        """
        resolve = model_path if callable(model_path) else (lambda: Path(model_path))

        def run() -> ModelInfo:
            with self._lock:
                info = self._load(Path(resolve()))
                if prepare is not None:
                    try:
                        prepare(info)
                    except Exception:  # the model loaded: a failed extra must not undo that
                        log.exception("preparing the loaded model failed")
                return info

        self._loading = self._worker.submit(run)
        return self._loading

    def wait_loaded(self, timeout: float | None = None) -> ModelInfo:
        """Wait for the latest load; if it failed, the model still in use answers instead."""
        if self._loading is None:
            raise ModelError("no model has been loaded")
        try:
            return self._loading.result(timeout)
        except ModelError:
            if self.model_info is not None and self._llama is not None:
                return self.model_info
            raise

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def _load(self, path: Path) -> ModelInfo:
        from app.llm.models import inspect_gguf

        started = time.perf_counter()
        info = inspect_gguf(path)
        # The new model is built before the old one goes: if it fails, the old one stays.
        llama = load_llama(
            path, n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers
        )
        with self._lock:
            self._swap_model(llama, path, info, started)
        assert self.model_info is not None
        return self.model_info

    def _swap_model(self, llama: Any, path: Path, info: dict[str, Any], started: float) -> None:
        self._wait_free()  # a reply streaming from the old model finishes first
        self._drop_model()
        self._llama = llama
        self._formatter = next_turn.formatter_for(llama)
        self.model_info = ModelInfo(
            path=path,
            name=str(info["name"]),
            architecture=info["architecture"],
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            load_s=time.perf_counter() - started,
        )

    def _drop_model(self) -> None:
        """Free the model; callers hold the lock."""
        if self._llama is None:
            return
        for adapter in self._adapters.loaded.values():
            adapter.free()
        self._adapters = _Adapters()
        self._llama.close()
        self._llama = None
        self._formatter = None

    def _require(self) -> Any:
        if self._llama is None:
            if self._loading is not None and self._loading.done() and self._loading.exception():
                raise ModelError(f"the model did not load: {self._loading.exception()}")
            raise ModelError("no model is loaded")
        return self._llama

    # -- using the model -------------------------------------------------------------------
    def call(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(llama)` with the model to itself and return its result (evaluation,
        tokenizing)."""
        with self._lock:
            self._wait_free()
            return fn(self._require())

    def count_tokens(self, text: str) -> int:
        # Tokenizing reads only the vocabulary: it need not wait for a streaming reply.
        with self._lock:
            llama = self._require()
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    @property
    def cached_tokens(self) -> int:
        """Tokens held in the main context's KV cache (the open conversation's prefix)."""
        with self._lock:
            return int(self._llama.n_tokens) if self._llama is not None else 0

    # -- adapters --------------------------------------------------------------------------
    def set_adapters(self, adapters: list[tuple[Path, float]]) -> None:
        """Make exactly these adapters active, without reloading the model; [] clears."""
        self._set_adapters([(Path(p), float(s)) for p, s in adapters])

    def _set_adapters(self, adapters: list[tuple[Path, float]]) -> None:
        with self._lock:
            self._wait_free()
            self._set_adapters_locked(adapters)

    def _set_adapters_locked(self, adapters: list[tuple[Path, float]]) -> None:
        llama = self._require()
        chosen = []
        for path, scale in adapters:
            if path not in self._adapters.loaded:
                self._adapters.loaded[path] = lora_swap.load_adapter(llama, path)
            chosen.append((self._adapters.loaded[path], scale))
        lora_swap.set_adapters(llama, chosen)
        self._adapters.active = list(adapters)
        # Adapters no longer in use are freed so a long session does not accumulate them.
        for path in [p for p in self._adapters.loaded if p not in dict(adapters)]:
            self._adapters.loaded.pop(path).free()

    @property
    def active_adapters(self) -> list[tuple[Path, float]]:
        return list(self._adapters.active)

    # -- busy state (training pauses while a reply streams) --------------------------------------
    @property
    def busy(self) -> bool:
        return self._busy

    def add_busy_listener(self, callback: Callable[[bool], None]) -> None:
        self._listeners.append(callback)

    def remove_busy_listener(self, callback: Callable[[bool], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for callback in list(self._listeners):
            # A listener's failure must never break a reply.
            with contextlib.suppress(Exception):
                callback(busy)

    # -- chat ------------------------------------------------------------------------------
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
        top_p: float | None = None,
        top_k: int | None = None,
        repeat_penalty: float | None = None,
    ) -> Iterator[str]:
        """Stream the reply's text chunks, with the model's own chat template.

        Inside `background()` the stream runs on the background context instead, so the
        conversation's cached prefix in the main context is left as it was.
        """
        cancel = cancel or CancelToken()
        stats = stats if stats is not None else GenerationStats()
        kwargs: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if seed is not None:
            kwargs["seed"] = seed
        for name, value in (("top_p", top_p), ("top_k", top_k), ("repeat_penalty", repeat_penalty)):
            if value is not None:
                kwargs[name] = value
        if temperature <= 0:
            kwargs.update(temperature=0.0, top_k=1)
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        if getattr(_scope, "background", None) is self:
            return self._background.chat(messages, kwargs, cancel, stats)
        return self._stream(messages, kwargs, cancel, stats)

    def _stream(
        self,
        messages: list[dict[str, str]],
        kwargs: dict[str, Any],
        cancel: CancelToken,
        stats: GenerationStats,
    ) -> Iterator[str]:
        # The lock is held only while llama.cpp computes a token, never across `yield`: a
        # stream closed from another thread, or left unread, must not lock the engine for
        # good. Between tokens the stream keeps its claim on the model instead (see `_Claim`).
        claim = _Claim()
        started = time.perf_counter()
        with self._lock:
            self._wait_free()
            llama = self._require()
            claim.cached_before = int(llama.n_tokens)
            _count_evals(llama, stats)
            self._claim = claim
            self._set_busy(True)
            try:
                claim.stream = llama.create_chat_completion(messages=messages, **kwargs)
            except BaseException:
                self._end(claim)
                raise
        finished = False
        reply: list[str] = []
        try:
            while True:
                with self._lock:
                    if claim.ended or cancel.cancelled:
                        break
                    claim.suspended_at = None
                    try:
                        chunk = next(claim.stream)
                    except StopIteration:
                        finished = True
                        if self._formatter is not None:
                            stats.prepared_next = next_turn.prepare(
                                llama, self._formatter, messages, "".join(reply)
                            )
                        break
                    except ValueError as exc:  # the prompt does not fit the context
                        raise ContextError(str(exc)) from exc
                    finally:
                        claim.suspended_at = time.monotonic()
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                if choice.get("finish_reason"):
                    stats.finish_reason = choice["finish_reason"]
                if text:
                    if stats.tokens == 0:
                        stats.first_token_s = time.perf_counter() - started
                    stats.tokens += 1
                    stats.seconds = time.perf_counter() - started
                    reply.append(text)
                    yield text
        finally:
            # Reached on cancel, on the caller closing the stream (from any thread), on
            # garbage collection of an abandoned stream, and on errors alike.
            stats.cancelled = cancel.cancelled or not finished
            if stats.tokens == 0:
                stats.seconds = time.perf_counter() - started
            stats.cached_before = claim.cached_before
            with self._lock:
                self._end(claim)

    def _wait_free(self) -> None:
        """Wait (lock held) until no stream claims the model. A stream whose reader has not
        asked for a token for `abandon_after_s` is ended, so an abandoned stream cannot keep
        everyone else waiting."""
        while self._claim is not None:
            claim = self._claim
            idle = time.monotonic() - claim.suspended_at if claim.suspended_at else 0.0
            if self._closed or idle >= self.abandon_after_s:
                log.warning("ending a reply stream nobody has read for %.1f s", idle)
                self._end(claim)
                return
            self._free.wait(timeout=max(0.01, min(0.5, self.abandon_after_s - idle)))

    def _end(self, claim: _Claim) -> None:
        """Close a stream and give the model back; callers hold the lock; idempotent."""
        if claim.ended:
            return
        claim.ended = True
        if claim.stream is not None:
            with contextlib.suppress(Exception):
                claim.stream.close()
        if self._llama is not None:
            _uncount_evals(self._llama)
        if self._claim is claim:
            self._claim = None
            self._set_busy(False)
            self._free.notify_all()
            self._background.wake()

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """Run this thread's generations on the background context (memory extraction): it
        never evicts the conversation's cache, and it pauses while a reply is due."""
        previous = getattr(_scope, "background", None)
        _scope.background = self
        try:
            yield
        finally:
            _scope.background = previous

    def wait_quiet(self) -> None:
        """Return once no reply is due or streaming and none has run for a moment: when
        background work (memory extraction) may start without slowing the next reply."""
        self._background.wait_quiet()

    @property
    def background_generations(self) -> int:
        return self._background.generations

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """A reply is being prepared or streamed: background generations wait meanwhile."""
        with self._background.foreground():
            yield

    def generate_text(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(self.chat(messages, **kwargs))

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.shutdown(wait=True)
        with self._lock:
            if self._claim is not None:
                self._end(self._claim)
            self._drop_model()
        self._background.close()


@dataclass
class _Claim:
    """A stream's hold on the model between tokens."""

    stream: Any = None
    suspended_at: float | None = None  # when the reader last got a token (None: computing)
    cached_before: int = 0
    ended: bool = False


# Which engine's background context this thread's generations use (see Engine.background).
_scope = threading.local()


def _count_evals(llama: Any, stats: GenerationStats) -> None:
    """Record how many prompt tokens llama.cpp really evaluates (the rest came from the KV
    cache): the first `eval` of a generation is the prompt's uncached part. Set on the
    instance for one generation and removed by `_uncount_evals`."""
    original = type(llama).eval
    first = [True]

    def eval(tokens: Any) -> None:
        if first[0]:
            first[0] = False
            stats.prompt_evaluated = len(tokens)
            original(llama, tokens)
            stats.prompt_tokens = int(llama.n_tokens)
            return
        original(llama, tokens)

    llama.eval = eval


def _uncount_evals(llama: Any) -> None:
    llama.__dict__.pop("eval", None)


def threads_alive() -> list[str]:
    """Names of the engine's threads still running (tests check none is left behind)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("hearth-engine")]
