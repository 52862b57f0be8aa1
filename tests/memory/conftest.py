"""Memory fixtures: the real embedder (loaded once per session), a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
