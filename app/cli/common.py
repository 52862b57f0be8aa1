"""Small pieces the commands share: opening the core, printing JSON, reading JSONL."""

from __future__ import annotations

import json
import sys
from typing import Any

from app.jsonl import read_jsonl


def open_core(*, load_model: bool) -> Any:
    from app.core import Core

    return Core.open(load_model=load_model)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


__all__ = ["open_core", "print_json", "read_jsonl"]
