"""What a training measures on the base model alone, kept with the base cache for the next.

Every training scores the base model on the same shipped texts before it can judge its
adapter: the neutral set's perplexity (the guard's and the gate's reference), the plain
answers, the anchor texts' hidden states (what training holds the adapter to), and in
llama.cpp the neutral set again when the gate confirms a strength. None of it depends on the
user's feedback, only on the base, the texts, the system prompt and the engine, and together
it cost ~5-7 s of every training on a 2-core machine. Kept in the base cache's entry
(app.adapters.base_cache), so that a changed model drops it with the entry; keyed by the
token ids scored and the engine that scored them, so that a changed system prompt, neutral
set, tokenizer, torch or llama.cpp build, precision or thread count measures again. Only
sequences the caller names public are kept: nothing derived from the user's own examples.
A damaged or unreadable file is ignored and rewritten: this is an optimisation, never a
source of truth a training depends on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.atomic import write_bytes, write_text

Pairs = Sequence[tuple[Sequence[int], Sequence[int]]]
NUMBERS = "measures.json"
KEEP_NUMBERS = 32  # entries kept (a few per system prompt tried); the oldest go first


def fingerprint(context: str, sequences: Pairs) -> str:
    payload = json.dumps([context, [[list(i), list(lb)] for i, lb in sequences]])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class BaseMeasures:
    """`folder`: the base cache's entry (None: nothing is kept, everything is measured)."""

    def __init__(self, folder: Path | None, public: Sequence[Pairs] = ()) -> None:
        self.folder = folder
        self._public = {fingerprint("", seqs) for seqs in public}

    def holds(self, sequences: Pairs) -> bool:
        """Whether `sequences` are one of the public sets named at construction."""
        return self.folder is not None and fingerprint("", sequences) in self._public

    def number(self, context: str, sequences: Pairs, compute: Callable[[], float]) -> float:
        """The kept value for (context, sequences), else `compute()`, kept for next time."""
        if not self.holds(sequences):
            return compute()
        key = fingerprint(context, sequences)
        numbers = self._numbers()
        if isinstance(numbers.get(key), float):
            return float(numbers[key])
        value = float(compute())
        numbers.pop(key, None)
        numbers[key] = value
        kept = dict(list(numbers.items())[-KEEP_NUMBERS:])
        with contextlib.suppress(OSError):
            if self._still_there():
                write_text(self._path(NUMBERS), json.dumps(kept))
        return value

    def tensors(self, name: str, context: str, sequences: Pairs, compute: Callable[[], Any]) -> Any:
        """A list of torch tensors kept under `name` (one set per name), else `compute()`."""
        import io

        import torch

        if not self.holds(sequences):
            return compute()
        key = fingerprint(context, sequences)
        path = self._path(f"{name}.pt")
        with contextlib.suppress(Exception):  # missing, damaged, another key: measure again
            saved = torch.load(path, weights_only=True)
            if saved["key"] == key:
                return list(saved["tensors"])
        value = compute()
        buffer = io.BytesIO()
        torch.save({"key": key, "tensors": [t.detach().contiguous() for t in value]}, buffer)
        with contextlib.suppress(OSError):
            if self._still_there():
                write_bytes(path, buffer.getvalue())
        return value

    def _still_there(self) -> bool:
        """Whether the entry still exists: one removed meanwhile (the user cleared it) is not
        made again as a folder that would stand in the way of the next whole entry."""
        return self.folder is not None and self.folder.is_dir()

    def _path(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / name

    def _numbers(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path(NUMBERS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
