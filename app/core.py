"""The core a window or a command opens: the store, settings, engine, and what sits on them.

Memory and adapters are built on first use, so a command that needs neither stays quick.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from app.assistant import Assistant
from app.conversations import Conversations
from app.llm.engine import Engine, ModelInfo
from app.llm.models import ModelManager, ModelRecord
from app.privacy import guard
from app.settings import Settings, load_settings
from app.store import Store, open_store

log = logging.getLogger(__name__)


class Core:
    def __init__(self, store: Store, settings: Settings, engine: Engine) -> None:
        self.store = store
        self.settings = settings
        self.engine = engine
        self.models = ModelManager(store)
        self.conversations = Conversations(store)
        self.assistant = Assistant(store, engine, memory=None, settings=settings)
        self._memory: Any = None
        self._adapters: Any = None
        # The engine thread (restoring the adapter at load) and the GUI both reach for these;
        # two AdapterServices would mean two job guards, and two trainings at once.
        self._memory_lock = threading.Lock()
        self._adapters_lock = threading.Lock()
        self._learning: Any = None
        self._learning_lock = threading.Lock()
        self.load_error: str | None = None
        self.answering: Any = None  # which engine answers (app.llm.remote_setup.Answering)

    @classmethod
    def open(cls, *, load_model: bool = True, n_threads: int | None = None) -> Core:
        guard.install()
        store = open_store()
        guard.install(guard.store_recorder(store))
        settings = load_settings()
        engine = Engine(
            n_threads=n_threads or settings.threads or None,
            n_ctx=settings.context_tokens,
            n_gpu_layers=settings.gpu_layers,
        )
        core = cls(store, settings, engine)
        if settings.memory_enabled:
            core.assistant.memory = core.memory_hook()
        from app.llm.remote_setup import restore

        restore(core)  # the engine the user chose last time answers again; the guard follows
        if load_model:
            core.load_model()
        return core

    # -- model ------------------------------------------------------------------------------
    def load_model(self, record: ModelRecord | None = None) -> Future[ModelInfo]:
        """Load the active (or given) model in the background, then restore its adapter."""

        def resolve() -> Path:
            return (record or self.models.active()).path

        future = self.engine.load(resolve, prepare=self._restore_adapter)
        future.add_done_callback(self._after_load)
        return future

    def _restore_adapter(self, _info: ModelInfo) -> None:
        """Runs inside the load, before any reply: the user's adapter is back from token one."""
        try:
            self.adapters.restore_active()
        except Exception as exc:  # a bad adapter must not cost the user their chat
            log.warning("could not restore the active adapter: %s", exc)

    def _after_load(self, future: Future[ModelInfo]) -> None:
        error = future.exception()
        self.load_error = None if error is None else str(error)
        if error is not None:
            return
        # The embedder loads once the model is up, so recall is ready by the user's next turn.
        warm = getattr(self.assistant.memory, "warm", None)
        if warm is not None:
            warm()

    def switch_model(self, ref: str | int | Path) -> Future[ModelInfo]:
        """Add (if a path) and use a model; the previous one stays if it cannot load."""
        if isinstance(ref, Path) or (isinstance(ref, str) and Path(ref).suffix == ".gguf"):
            record = self.models.add(Path(ref))
        else:
            record = self.models.get(ref)
        future = self.load_model(record)
        future.result()
        self.models.use(record.id)
        return future

    # -- parts built on first use -------------------------------------------------------------
    @property
    def memory(self) -> Any:
        with self._memory_lock:
            if self._memory is None:
                from app.memory.service import MemoryService

                self._memory = MemoryService(
                    self.store, self.engine, budget_tokens=self.settings.memory_budget_tokens
                )
            return self._memory

    def memory_hook(self) -> Any:
        return self.memory

    @property
    def adapters(self) -> Any:
        with self._adapters_lock:
            if self._adapters is None:
                from app.adapters.service import AdapterService

                self._adapters = AdapterService(self)
            return self._adapters

    @property
    def learning(self) -> Any:
        """The one owner of training and merging jobs (app.adapters.jobs): they outlive the
        window or page that started them, and never run two at once."""
        with self._learning_lock:
            if self._learning is None:
                from app.adapters.jobs import LearningJobs

                self._learning = LearningJobs(self)
            return self._learning

    def close(self) -> None:
        self.assistant.wait_idle(timeout=30)
        # A learning job still running is cancelled and waited for before the store closes.
        for part in (self._learning, self._adapters, self._memory):
            closer = getattr(part, "close", None)
            if closer is not None:
                closer()
        if self.answering is not None and self.answering.remote:
            self.answering.engine.close()
        self.engine.close()
        self.store.close()
