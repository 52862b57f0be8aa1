"""One reply, generated off the GUI thread: iterates Assistant.send and relays its events.

The worker never touches a widget. It waits for the core (and so for the model) if the user sent
before either was ready, and stops within one token when its CancelToken is cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

from app.cancel import CancelToken
from app.errors import HearthError

log = logging.getLogger(__name__)


class GenerationSignals(QObject):
    conversation = Signal(int)  # the conversation the reply belongs to (created if new)
    started = Signal()  # the model is ready and the reply begins
    recalled = Signal(list)
    token = Signal(str)
    done = Signal(object)  # app.assistant.Done
    failed = Signal(str)
    finished = Signal()  # always last


class GenerationWorker(QRunnable):
    """Runs on a pool thread. `core_getter(cancel)` blocks until the core is open (or raises)."""

    def __init__(
        self,
        core_getter: Callable[[CancelToken], Any],
        conversation_id: int | None,
        text: str,
        cancel: CancelToken | None = None,
        *,
        regenerate_id: int | None = None,
        edit_id: int | None = None,
    ) -> None:
        super().__init__()
        self.regenerate_id = regenerate_id  # answer this stored answer's question again
        self.edit_id = edit_id  # send `text` in place of this stored question
        self.setAutoDelete(False)
        self.core_getter = core_getter
        self.conversation_id = conversation_id
        self.text = text
        self.cancel = cancel or CancelToken()
        self.signals = GenerationSignals()

    def run(self) -> None:
        sig = self.signals
        try:
            core = self.core_getter(self.cancel)
            if self.cancel.cancelled:
                return
            if self.conversation_id is not None:
                sig.conversation.emit(self.conversation_id)
            self._wait_for_model(core)
            sig.started.emit()
            # Without a conversation the assistant makes one, once the message is accepted
            # (a refused message leaves no empty conversation behind).
            assistant = core.assistant
            if self.regenerate_id is not None:
                events = assistant.regenerate(self.regenerate_id, cancel=self.cancel)
            elif self.edit_id is not None:
                events = assistant.edit(self.edit_id, self.text, cancel=self.cancel)
            else:
                events = assistant.send(self.conversation_id, self.text, cancel=self.cancel)
            for event in events:
                self._relay(event)
        except HearthError as exc:
            if not self.cancel.cancelled:
                sig.failed.emit(str(exc))
        except Exception as exc:
            log.exception("generation failed")
            sig.failed.emit(f"Something went wrong: {exc}")
        finally:
            sig.finished.emit()

    def _wait_for_model(self, core: Any) -> None:
        # The engine that answers: a server of the user's own need not wait for the local model.
        engine = getattr(getattr(core, "assistant", None), "engine", None) or getattr(
            core, "engine", None
        )
        wait = getattr(engine, "wait_loaded", None)
        if wait is None:
            return
        while not self.cancel.cancelled:
            try:
                wait(timeout=0.2)
                return
            except TimeoutError:
                continue
            except TypeError:  # an engine whose wait takes no timeout
                wait()
                return

    def _relay(self, event: Any) -> None:
        sig = self.signals
        kind = type(event).__name__
        if kind == "Token":
            sig.token.emit(event.text)
        elif kind == "Opened":
            sig.conversation.emit(event.conversation_id)
        elif kind == "Recalled":
            sig.recalled.emit(list(event.memories))
        elif kind == "Done":
            sig.done.emit(event)
        elif kind == "Failed":
            sig.failed.emit(event.message)


class Throughput:
    """Tokens per second while a reply streams (the final figure comes from Done.tok_s)."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.count = 0

    def tick(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.count += 1

    @property
    def rate(self) -> float:
        if self.first is None or self.count < 2:
            return 0.0
        span = time.perf_counter() - self.first
        return (self.count - 1) / span if span > 0 else 0.0
