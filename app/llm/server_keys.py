"""API keys of the user's servers: in the OS keyring when one is available, else a 0600 file.

Never in the database (it is exported and shown on the privacy page) and never in a log. With
`HEARTH_HOME` set everything Hearth keeps stays under that one folder, so the keyring is not
used then (tests never touch the user's real keyring).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from app import paths
from app.atomic import write_text

SERVICE = "hearth-engines"
log = logging.getLogger(__name__)


def _keyring_allowed() -> bool:
    return paths.home() is None


def _keyring() -> Any:
    """The keyring module when a real backend is there, else None."""
    if not _keyring_allowed():
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return keyring


def key_file() -> Path:
    return paths.config_dir() / "engine-keys.json"


def _read_file() -> dict[str, str]:
    try:
        data = json.loads(key_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(keys: dict[str, str]) -> None:
    path = key_file()
    if not keys:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    # The temporary file is created 0600 and renamed over the old one: never readable by others.
    write_text(path, json.dumps(keys, indent=1, sort_keys=True))
    os.chmod(path, 0o600)


def store_key(name: str, key: str) -> str:
    """Keep `key` for the server `name`; returns where it went ('keyring' or the file path)."""
    ring = _keyring()
    if ring is not None:
        try:
            ring.set_password(SERVICE, name, key)
            return "keyring"
        except Exception as exc:  # a locked or broken keyring: the file still works
            log.warning("the keyring refused the key (%s); using the key file", type(exc).__name__)
    keys = _read_file()
    keys[name] = key
    _write_file(keys)
    return str(key_file())


def load_key(name: str) -> str | None:
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            found = ring.get_password(SERVICE, name)
            if found:
                return str(found)
    return _read_file().get(name)


def delete_key(name: str) -> None:
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            ring.delete_password(SERVICE, name)
    keys = _read_file()
    if keys.pop(name, None) is not None:
        _write_file(keys)
