"""Memory fixtures: the real embedder (loaded once per session), a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def embedder() -> Any:
    import torch

    torch.set_num_threads(1)
    from app.memory.embedder import Embedder

    emb = Embedder(threads=1)
    emb.embed(["warm up"])
    return emb


@pytest.fixture
def store(hearth_home: Any) -> Iterator[Any]:
    from app.store import open_store

    db = open_store()
    yield db
    db.close()


@pytest.fixture
def memory(store: Any, embedder: Any) -> Iterator[Any]:
    from app.memory.service import MemoryService

    service = MemoryService(store, None, embedder, use_model=False)
    yield service
    service.close()


@pytest.fixture
def stuck_embedder(embedder: Any) -> Iterator[Any]:
    """Fault injection: an embedder still loading until its `ready` event is set (at the end of
    the test at the latest); `asked` tells whether anything started loading it."""
    from app.memory.embedder import Embedder

    class Stuck(Embedder):
        def __init__(self) -> None:
            super().__init__(threads=1)
            self.ready = threading.Event()
            self.asked = threading.Event()

        def _ensure(self) -> Any:
            self.asked.set()
            self.ready.wait(300)
            self._model = embedder._ensure()
            return self._model

        def embed(self, texts: list[str]) -> np.ndarray:
            self._ensure()
            return np.asarray(embedder.embed(texts))

    stuck = Stuck()
    yield stuck
    stuck.ready.set()
