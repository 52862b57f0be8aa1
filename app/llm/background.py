"""A second llama.cpp context for background generations (memory extraction).

llama.cpp keeps one KV cache per context. Running the extractor's prompt on the chat context
would evict the open conversation's cached prefix, and the next reply would re-evaluate the
whole conversation. This context loads the same GGUF file (its weights are mmap'd, so they are
shared, not copied: measured, a second context on the 98 MB model costs its KV cache and
about 0.1 s), keeps its own cache, and pauses between tokens whenever a reply is being prepared
or streamed, so the user's next reply never waits for it and the cores are never shared.
It runs without the user's adapters: it is asked for constrained JSON, not for answers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cancel import CancelToken
from app.errors import ModelError

if TYPE_CHECKING:
    from app.llm.engine import Engine, GenerationStats

log = logging.getLogger(__name__)

# Extraction prompts are short; a small context keeps the second KV cache small.
BACKGROUND_CTX = 2048
# Background work starts only once no reply has run for this long: a prompt evaluation that
# has begun cannot be paused, so it must not begin just as the user sends the next message.
SETTLE_S = 1.0


class BackgroundModel:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._llama: Any = None
        self._path: Path | None = None
        self._lock = threading.Lock()  # one background generation at a time
        self._state = threading.Condition()  # guards _foreground and _closed
        self._foreground = 0
        self._closed = False
        self._last_reply = 0.0  # monotonic time the last reply ended
        self.generations = 0  # how many generations ran here (tests, figures)

    # -- who goes first -----------------------------------------------------------------------
    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        with self._state:
            self._foreground += 1
        try:
            yield
        finally:
            with self._state:
                self._foreground -= 1
                self._last_reply = time.monotonic()
                self._state.notify_all()

    def wake(self) -> None:
        """A reply stream ended."""
        with self._state:
            self._last_reply = time.monotonic()
            self._state.notify_all()

    def wait_quiet(self) -> None:
        """Block while a reply is due or streaming on the main context, and until none has
        run for `SETTLE_S` (the user is reading the answer)."""
        with self._state:
            while not self._closed:
                if self._foreground > 0 or self.engine.busy:
                    self._state.wait(timeout=0.5)
                    continue
                quiet_for = time.monotonic() - self._last_reply
                if quiet_for >= SETTLE_S:
                    return
                self._state.wait(timeout=SETTLE_S - quiet_for)

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    # -- generating ---------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict[str, str]],
        kwargs: dict[str, Any],
        cancel: CancelToken,
        stats: GenerationStats,
    ) -> Iterator[str]:
        """The whole reply, generated before returning (background callers want all of it):
        no lock is ever held across a `yield`."""
        return iter(self._generate(messages, kwargs, cancel, stats))

    def _generate(
        self,
        messages: list[dict[str, str]],
        kwargs: dict[str, Any],
        cancel: CancelToken,
        stats: GenerationStats,
    ) -> list[str]:
        started = time.perf_counter()
        chunks: list[str] = []
        finished = False
        with self._lock:
            try:
                self.wait_quiet()
                if self._closed:
                    return chunks
                stream = self._model().create_chat_completion(messages=messages, **kwargs)
                self.generations += 1
                try:
                    while not cancel.cancelled:
                        self.wait_quiet()
                        if self._closed:
                            break
                        try:
                            chunk = next(stream)
                        except StopIteration:
                            finished = True
                            break
                        text = chunk["choices"][0]["delta"].get("content")
                        if text:
                            stats.tokens += 1
                            stats.seconds = time.perf_counter() - started
                            chunks.append(text)
                finally:
                    stream.close()
            finally:
                stats.cancelled = cancel.cancelled or not finished
        return chunks

    def _model(self) -> Any:
        """The background context for the engine's current model (loaded, or reloaded after
        a model switch); the caller holds `_lock`."""
        from app.llm.llama_loader import load_llama

        info = self.engine.model_info
        if info is None:
            raise ModelError("no model is loaded")
        if self._llama is None or self._path != info.path:
            self._free()
            self._llama = load_llama(
                info.path,
                n_ctx=min(self.engine.n_ctx, BACKGROUND_CTX),
                n_threads=self.engine.n_threads,
                n_gpu_layers=self.engine.n_gpu_layers,
            )
            self._path = info.path
        return self._llama

    def _free(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None
            self._path = None

    def close(self) -> None:
        with self._state:
            self._closed = True
            self._state.notify_all()
        with self._lock:
            self._free()
