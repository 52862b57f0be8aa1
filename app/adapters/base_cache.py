"""The training base, dequantised once and kept.

transformers reads a GGUF slowly: it parses the whole header (the vocabulary, string by string)
three times, builds a name map per tensor, rebuilds the tokenizer from the vocabulary and
dequantises every tensor (measured on the default model: ~15 s of a quiet machine's time, ~40 s
of a busy one's, before every training). The same model saved as safetensors with its tokenizer
loads in about a second. One entry is kept, for the last base trained on (~540 MB for the
default model), in `paths.training_base_dir()` inside the models folder (the privacy page
counts it with the models). It is keyed by the GGUF's content, so a changed or replaced model
file is read again; a damaged entry is dropped and rebuilt, never trusted. The entry also
holds what trainings measured on the base alone (app.adapters.base_measures), gone with it.
Imported only inside the training process (it imports transformers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from app.atomic import fsync_dir


def key(gguf: Path) -> str:
    """The file's content hash (~0.1 s for the default model): the same model under another
    path (each user folder keeps its own copy) finds the entry; a changed file does not."""
    with gguf.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def load(root: Path, name: str, dtype: Any) -> tuple[Any, Any] | None:
    """(tokenizer, model) from the entry `name` (a `key`), or None when there is no good one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = root / name
    if not (folder / "complete").is_file():
        return None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    except Exception:  # a damaged entry (disk error, cut write): read the GGUF instead
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return tokenizer, model


def store(root: Path, name: str, tokenizer: Any, model: Any) -> None:
    """Save `model` and `tokenizer` as the entry `name` (a `key`), replacing any other entry.
    Written into a temporary folder, then renamed: a crash leaves no entry that looks complete.
    Best effort: a full disk (safetensors reports it as its own error type, not OSError) costs
    the next training its time, never this one its adapter."""
    temp = root / f".{name}.{os.getpid()}.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        # save_pretrained refuses a model read from a GGUF (it counts as quantised): the
        # weights are plain float tensors by now, written as the standard checkpoint.
        from safetensors.torch import save_model

        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (temp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        save_model(model, str(temp / "model.safetensors"))
        tokenizer.save_pretrained(str(temp))
        for path in temp.iterdir():
            _fsync(path)
        (temp / "complete").write_text(name, encoding="utf-8")
        _fsync(temp / "complete")
        for other in root.iterdir():  # one base at a time: the old entry's space comes back
            if other.name != temp.name:
                shutil.rmtree(other, ignore_errors=True)
        os.replace(temp, root / name)
        fsync_dir(root)
    except Exception:  # the cache is an optimisation; the training goes on without it
        shutil.rmtree(temp, ignore_errors=True)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        os.fsync(handle.fileno())
