"""Work off the GUI thread: a small thread pool whose results come back by signal.

Every call that may wait (the database, the engine, file checks) goes through `Tasks.run`; the
callbacks run on the GUI thread. `Tasks.shutdown` waits for whatever is still running, so that
closing a window never leaves a thread behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)
Callback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class _Call(QObject):
    """Carries one task's result back. It lives on the GUI thread, so its slots run there."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, owner: Tasks, on_done: Callback | None, on_error: ErrorCallback | None):
        super().__init__(owner)
        self._owner = owner
        self._on_done = on_done
        self._on_error = on_error
        self.done.connect(self._deliver)
        self.failed.connect(self._fail)

    @Slot(object)
    def _deliver(self, result: Any) -> None:
        self._owner._forget(self)
        if self._on_done is not None:
            self._on_done(result)

    @Slot(object)
    def _fail(self, exc: BaseException) -> None:
        self._owner._forget(self)
        if self._on_error is not None:
            self._on_error(exc)
        else:
            log.error("background task failed: %s", exc, exc_info=exc)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], call: _Call) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.fn = fn
        self.call = call

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:
            self.call.failed.emit(exc)
        else:
            self.call.done.emit(result)


class Tasks(QObject):
    """A pool for short jobs plus the bookkeeping that lets a window wait for all of them."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[_Call] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        call = _Call(self, on_done, on_error)
        self._live.add(call)
        self.pool.start(_Task(fn, call))

    def _forget(self, call: _Call) -> None:
        self._live.discard(call)
        call.deleteLater()

    def start(self, runnable: QRunnable) -> None:
        """Run a long-lived runnable (a generation) in the same pool."""
        self.pool.start(runnable)

    @property
    def busy(self) -> bool:
        return self.pool.activeThreadCount() > 0

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Wait for every running task; True when none is left."""
        return self.pool.waitForDone(timeout_ms)
