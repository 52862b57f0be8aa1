"""The training base kept between trainings: the same tokens and the same logits as reading the
GGUF, a damaged entry rebuilt rather than trusted, one entry at a time, and a training that
goes on when the cache cannot be written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.adapters import base_cache, torch_model
from app.adapters.dataset import prompt_ids
from app.llm.models import packaged_default_model
from tests.adapters.conftest import Trained

TEXTS = ["Why is the sky blue?", "café, naïve ✓ 東京\n\n```py\nx = 1\n```"]


@pytest.fixture(scope="module")
def from_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """The base read from the GGUF, which also fills a cache."""
    cache = tmp_path_factory.mktemp("cache") / "training-base"
    return torch_model.load_base(packaged_default_model(), cache=cache), cache


def test_the_cached_base_is_the_gguf_base(from_gguf: tuple[object, Path]) -> None:
    first, cache = from_gguf
    assert [p.name for p in cache.iterdir()] == [base_cache.key(packaged_default_model())]
    cached = torch_model.load_base(packaged_default_model(), cache=cache)
    assert (cached.architecture, cached.n_head, cached.n_kv_head) == (
        first.architecture,  # type: ignore[attr-defined]
        first.n_head,  # type: ignore[attr-defined]
        first.n_kv_head,  # type: ignore[attr-defined]
    )
    for text in TEXTS:
        ids = prompt_ids(first.tokenizer, text, "You are Hearth.")  # type: ignore[attr-defined]
        assert prompt_ids(cached.tokenizer, text, "You are Hearth.") == ids
        expected = torch_model.logits(first.model, ids)  # type: ignore[attr-defined]
        assert (torch_model.logits(cached.model, ids) == expected).all()


def test_a_damaged_entry_is_dropped_not_trusted(
    from_gguf: tuple[object, Path], tmp_path: Path
) -> None:
    import torch

    _first, cache = from_gguf
    name = base_cache.key(packaged_default_model())
    copy = tmp_path / "training-base" / name
    shutil.copytree(cache / name, copy)
    with (copy / "model.safetensors").open("r+b") as weights:
        weights.truncate(4096)  # a write cut short
    assert base_cache.load(copy.parent, name, torch.float32) is None
    assert not copy.exists()


def test_a_changed_model_file_is_read_again_and_replaces_the_entry(
    from_gguf: tuple[object, Path], tmp_path: Path
) -> None:
    first, _cache = from_gguf
    model = tmp_path / "model.gguf"
    shutil.copyfile(packaged_default_model(), model)
    cache = tmp_path / "training-base"
    (cache / "0123456789abcdef").mkdir(parents=True)  # an older base's entry
    old = base_cache.key(model)
    base_cache.store(cache, old, first.tokenizer, first.model)  # type: ignore[attr-defined]
    assert [p.name for p in cache.iterdir()] == [old]
    # keyed by content: every user folder's copy of the same model finds the same entry
    assert old == base_cache.key(packaged_default_model())
    with model.open("r+b") as handle:  # the file changed (one byte of a weight)
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    assert base_cache.key(model) != old
    assert base_cache.load(cache, base_cache.key(model), None) is None  # not the stale entry


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(
    from_gguf: tuple[object, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while saving (safetensors raises its own error type, not OSError) leaves no
    entry and no temporary folder, and the caller gets on with its training."""
    import safetensors.torch

    first, _cache = from_gguf

    class DiskFull(Exception):
        pass

    def full(*_args: object, **_kwargs: object) -> None:
        raise DiskFull("No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    cache = tmp_path / "training-base"
    base_cache.store(cache, "0123456789abcdef", first.tokenizer, first.model)  # type: ignore[attr-defined]
    assert list(cache.iterdir()) == []


def test_a_training_keeps_its_base_for_the_next(trained: Trained) -> None:
    """The service's training process is given the user's cache folder and fills it."""
    entry = trained.home / "data" / "models" / "training-base" / base_cache.key(trained.base_model)
    assert (entry / "complete").is_file() and (entry / "model.safetensors").is_file()


def test_reading_the_gguf_once_reads_the_same_base(from_gguf: tuple[object, Path]) -> None:
    """load_base reads the GGUF with the reader and the name map made once
    (torch_model.gguf_read_once): the same weights, bit for bit, and the same tokenizer as
    transformers reading it its own way; the gguf package is left as it was."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first, _cache = from_gguf
    assert isinstance(gguf.GGUFReader, type)
    path = packaged_default_model()
    folder, name = str(path.parent), path.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ours = first.model.state_dict()  # type: ignore[attr-defined]
    theirs = model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)
    for text in TEXTS:
        expected = tokenizer(text)["input_ids"]
        assert first.tokenizer(text)["input_ids"] == expected  # type: ignore[attr-defined]
    assert first.tokenizer.chat_template == tokenizer.chat_template  # type: ignore[attr-defined]
