"""The engine: the one llama_cpp.Llama, owned by one worker thread.

Every call that touches the model runs on that worker, so the model is never used from two
threads. A chat streams as a generator on the caller's side: the worker puts chunks on a queue,
the caller takes them. Cancelling (the token, or closing the generator) stops the worker at the
next token.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.cancel import CancelToken
from app.errors import ModelError
from app.llm import lora_swap
from app.llm.llama_loader import free_cores, load_llama

T = TypeVar("T")
_END = object()


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    architecture: str | None
    n_ctx: int
    n_threads: int
    load_s: float


@dataclass
class GenerationStats:
    """Filled by the worker as a generation runs; read after the stream ends."""

    tokens: int = 0
    prompt_tokens: int = 0
    first_token_s: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False
    finish_reason: str | None = None

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
        self._llama: Any = None
        self._adapters = _Adapters()
        self._loading: Future[ModelInfo] | None = None
        self.model_info: ModelInfo | None = None
        self._listeners: list[Callable[[bool], None]] = []
        self._busy = False
        self._closed = False

    # -- model -----------------------------------------------------------------------------
    def load(self, model_path: Path | Callable[[], Path]) -> Future[ModelInfo]:
        """Load a model in the background; on failure the previous model stays in use.

        `model_path` may be a function returning the path, so that finding the model (copying
        the packaged default on first run) also happens off the caller's thread.
        """
        resolve = model_path if callable(model_path) else (lambda: Path(model_path))
        self._loading = self._worker.submit(lambda: self._load(Path(resolve())))
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
        llama = load_llama(
            path, n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers
        )
        self._drop_model()
        self._llama = llama
        self.model_info = ModelInfo(
            path=path,
            name=str(info["name"]),
            architecture=info["architecture"],
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            load_s=time.perf_counter() - started,
        )
        return self.model_info

    def _drop_model(self) -> None:
        if self._llama is None:
            return
        for adapter in self._adapters.loaded.values():
            adapter.free()
        self._adapters = _Adapters()
        self._llama.close()
        self._llama = None

    def _require(self) -> Any:
        if self._llama is None:
            if self._loading is not None and self._loading.done() and self._loading.exception():
                raise ModelError(f"the model did not load: {self._loading.exception()}")
            raise ModelError("no model is loaded")
        return self._llama

    # -- running work on the worker ----------------------------------------------------------
    def call(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(llama)` on the worker thread and return its result (evaluation, tokenizing)."""
        return self._worker.submit(lambda: fn(self._require())).result()

    def count_tokens(self, text: str) -> int:
        return self.call(lambda llama: len(llama.tokenize(text.encode("utf-8"), special=True)))

    # -- adapters --------------------------------------------------------------------------
    def set_adapters(self, adapters: list[tuple[Path, float]]) -> None:
        """Make exactly these adapters active, without reloading the model; [] clears."""
        self._worker.submit(self._set_adapters, [(Path(p), float(s)) for p, s in adapters]).result()

    def _set_adapters(self, adapters: list[tuple[Path, float]]) -> None:
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
    ) -> Iterator[str]:
        """Stream the reply's text chunks, with the model's own chat template."""
        cancel = cancel or CancelToken()
        stats = stats if stats is not None else GenerationStats()
        chunks: queue.Queue[object] = queue.Queue()
        kwargs: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if seed is not None:
            kwargs["seed"] = seed
        if temperature <= 0:
            kwargs.update(temperature=0.0, top_k=1)
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        job = self._worker.submit(self._stream, messages, kwargs, cancel, chunks, stats)
        try:
            while True:
                item = chunks.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield str(item)
        finally:
            cancel.cancel()  # the caller left early: stop the worker at the next token
            job.result()

    def generate_text(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(self.chat(messages, **kwargs))

    def _stream(
        self,
        messages: list[dict[str, str]],
        kwargs: dict[str, Any],
        cancel: CancelToken,
        chunks: queue.Queue[object],
        stats: GenerationStats,
    ) -> None:
        started = time.perf_counter()
        self._set_busy(True)
        try:
            llama = self._require()
            stream = llama.create_chat_completion(messages=messages, **kwargs)
            try:
                for chunk in stream:
                    if cancel.cancelled:
                        stats.cancelled = True
                        break
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if choice.get("finish_reason"):
                        stats.finish_reason = choice["finish_reason"]
                    if text:
                        if stats.tokens == 0:
                            stats.first_token_s = time.perf_counter() - started
                        stats.tokens += 1
                        chunks.put(text)
            finally:
                stream.close()
            stats.cancelled = stats.cancelled or cancel.cancelled
        except BaseException as exc:  # surfaced on the caller's side
            chunks.put(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        finally:
            stats.seconds = time.perf_counter() - started
            self._set_busy(False)
            chunks.put(_END)

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.submit(self._drop_model).result()
        self._worker.shutdown(wait=True)


def threads_alive() -> list[str]:
    """Names of the engine's threads still running (tests check none is left behind)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("hearth-engine")]
