"""Small pieces the commands share: opening the core, printing JSON, reading JSONL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.errors import HearthError


def open_core(*, load_model: bool) -> Any:
    from app.core import Core

    return Core.open(load_model=load_model)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line; a bad line is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise HearthError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HearthError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise HearthError(f"{path}:{number}: each line must be a JSON object")
            yield number, obj
