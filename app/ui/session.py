"""The window's hold on the core: opened off the GUI thread, model state reported by signal.

`Session.open` returns at once; the Core (store, settings, engine) opens on a pool thread and the
model loads on the engine's own worker. A reply sent before then waits in `wait_core`, off the GUI
thread. `close` waits for every task and closes the core, so no thread outlives the window.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.cancel import CancelToken
from app.errors import Cancelled, HearthError
from app.llm.models import display_name
from app.ui.tasks import Tasks

# How long a core waits for work that outlived its window before giving up on closing it (the
# database is safe either way: SQLite's log makes every committed write durable).
CLOSE_WAIT_S = 600.0
log = logging.getLogger(__name__)


def _pending_model_name(core: Any) -> str:
    """The name of the model being loaded, without touching the model file."""
    path = core.store.scalar(
        "SELECT path FROM models WHERE id = (SELECT CAST(value AS INTEGER) FROM state "
        "WHERE key = 'active_model')"
    )
    return display_name(path)


class Session(QObject):
    core_ready = Signal(object)
    model_state = Signal(str, str)  # "loading" | "ready" | "error", text for the status bar
    models_changed = Signal()

    def __init__(self, tasks: Tasks, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.core: Any = None
        self._future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.model_name = ""
        self.state = "starting"
        self._closed = False
        self.closer: threading.Thread | None = None  # closes the core if work outlived close()

    # -- opening ---------------------------------------------------------------------------
    def open(self, load_model: bool = True) -> None:
        self._set_state("loading", "Starting…")
        future = self._future

        def work() -> tuple[Any, str]:
            from app.core import Core  # imported here: the window shows before the core loads

            try:
                core = Core.open(load_model=load_model)
            except BaseException as exc:
                future.set_exception(exc)
                raise
            future.set_result(core)
            return core, _pending_model_name(core)

        self.tasks.run(work, self._opened, self._open_failed)

    def _opened(self, result: tuple[Any, str]) -> None:
        self.core, name = result
        if self._closed:
            return
        self.core_ready.emit(self.core)
        self._watch_load(name)

    def _open_failed(self, exc: BaseException) -> None:
        self._set_state("error", f"Could not start: {exc}")

    def _watch_load(self, name: str) -> None:
        self._set_state("loading", f"Loading {name}…")
        self.tasks.run(self.core.engine.wait_loaded, self._loaded, self._load_failed)

    def _loaded(self, info: Any) -> None:
        self.model_name = display_name(info.path)
        self._set_state("ready", "Ready")
        self.models_changed.emit()

    def _load_failed(self, exc: BaseException) -> None:
        self._set_state("error", str(exc))

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.model_state.emit(state, text)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def wait_core(self, cancel: CancelToken) -> Any:
        """Block (on a worker thread) until the core is open; raises if it failed or on cancel."""
        while True:
            if cancel.cancelled or self._closed:
                raise Cancelled("cancelled")
            try:
                return self._future.result(timeout=0.1)
            except concurrent.futures.TimeoutError:
                continue

    # -- models ----------------------------------------------------------------------------
    def models(self) -> list[Any]:
        return [] if self.core is None else self.core.models.list()

    def active_model_path(self) -> Path | None:
        info = None if self.core is None else self.core.engine.model_info
        return None if info is None else Path(info.path)

    def switch_model(self, ref: int | Path, on_error) -> None:
        """Add (a path) or pick (an id) a model; `on_error(message)` when it cannot be used."""
        if self.core is None:
            on_error("Hearth is still starting; try again in a moment.")
            return
        previous = self.model_name
        label = ref.name if isinstance(ref, Path) else "model"
        self._set_state("loading", f"Checking {label}…")
        core = self.core

        def work() -> Any:
            return core.switch_model(ref).result()

        def failed(exc: BaseException) -> None:
            if previous:
                self._set_state("ready", "Ready")
            else:
                self._set_state("error", str(exc))
            message = str(exc) if isinstance(exc, HearthError) else f"Unexpected error: {exc}"
            on_error(message)

        self.tasks.run(work, self._loaded, failed)

    # -- closing ---------------------------------------------------------------------------
    def close(self, timeout_ms: int = 30000) -> None:
        """Wait for background work, then close the core (engine thread, database).

        Work still running after `timeout_ms` (a reply being saved, an import) keeps the core:
        closing the database under it would lose what it writes. The core is then closed off
        the GUI thread as soon as that work has ended.
        """
        self._closed = True
        finished = self.tasks.shutdown(timeout_ms)
        core = self.core
        if core is None and self._future.done() and self._future.exception() is None:
            core = self._future.result()
        self.core = None
        if core is None:
            return
        if finished:
            core.close()
            return
        log.warning("background work outlived the window; the core closes when it ends")
        pool = self.tasks.pool
        closer = threading.Thread(
            target=_close_when_idle, args=(pool, core), name="hearth-close-core", daemon=True
        )
        closer.start()
        self.closer = closer


def _close_when_idle(pool: Any, core: Any) -> None:
    """Close `core` once `pool` has no running task (or once it is gone: its deletion waited)."""
    deadline = time.monotonic() + CLOSE_WAIT_S
    while time.monotonic() < deadline:
        try:
            if pool.activeThreadCount() == 0:
                break
        except RuntimeError:  # the pool was deleted, which waits for its tasks first
            break
        time.sleep(0.1)
    else:
        log.warning("background work still running after %.0f s; the core stays open", CLOSE_WAIT_S)
        return
    core.close()
