"""The engine on the real default model, one per test module (loading it costs ~1 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.llm.engine import Engine


@pytest.fixture(scope="module")
def engine(default_model: Path) -> Iterator[Engine]:
    eng = Engine(n_threads=1, n_ctx=1024)
    eng.load(default_model).result()
    yield eng
    eng.close()
