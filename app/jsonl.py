"""Reading JSON Lines files that users hand to Hearth (imports, batches): one object a line,
blank lines skipped, and a bad line named by its file and number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.errors import HearthError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line; a bad line is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise HearthError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    # half of a UTF-16 pair ("\\ud800") is valid JSON that SQLite cannot store
                    half_pair = "\\u" in line and _has_lone_surrogate(obj)
                except json.JSONDecodeError as exc:
                    raise HearthError(f"{path.name}, line {number}: not JSON ({exc.msg})") from exc
                except (ValueError, RecursionError) as exc:  # a huge number, deep nesting
                    raise HearthError(f"{path.name}, line {number}: not usable JSON") from exc
                if not isinstance(obj, dict):
                    raise HearthError(f"{path.name}, line {number}: expected a JSON object")
                if half_pair:
                    raise HearthError(f"{path.name}, line {number}: a \\u escape is half a pair")
                yield number, obj
    except (OSError, UnicodeDecodeError) as exc:
        raise HearthError(f"cannot read {path}: {exc}") from exc


def _has_lone_surrogate(obj: Any) -> bool:
    """True when a string anywhere in `obj` holds half of a UTF-16 pair ("\\ud800")."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
