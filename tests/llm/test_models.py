"""Models on disk: the packaged default is copied and checked; bad files are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import paths
from app.errors import ModelError
from app.llm.models import ModelManager, inspect_gguf, sha256_of
from app.store import open_store


def test_default_model_is_copied_with_its_checksum(default_model: Path) -> None:
    with open_store() as store:
        manager = ModelManager(store)
        record = manager.active()
        assert record.path.parent == paths.models_dir()
        assert record.sha256 == sha256_of(default_model)
        assert record.architecture == "llama"
        assert manager.active().id == record.id  # idempotent


def test_corrupt_gguf_is_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, I am not a model")
    with pytest.raises(ModelError, match=r"notes\.gguf: not a GGUF"):
        inspect_gguf(bad)


def test_truncated_gguf_is_refused_with_the_reason(default_model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(default_model.read_bytes()[:30_000_000])
    with pytest.raises(ModelError, match=r"cut\.gguf: .*truncated"):
        inspect_gguf(cut)


def test_add_bad_model_keeps_the_active_one(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with open_store() as store:
        manager = ModelManager(store)
        before = manager.active()
        with pytest.raises(ModelError, match=r"broken\.gguf"):
            manager.add(bad)
        assert manager.active().id == before.id
