"""The window's size, maximised state and sidebar width, kept between runs.

A small JSON file in the config folder (written atomically); a missing or damaged file just
means the default layout. Only the layout is kept here, never anything the user wrote.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app import paths
from app.atomic import write_text

log = logging.getLogger(__name__)


def _file() -> Path:
    return paths.config_dir() / "window.json"


def load() -> dict[str, Any]:
    try:
        data = json.loads(_file().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def restore(window: Any, splitter: Any) -> None:
    state = load()
    size = state.get("size")
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
        window.resize(max(480, size[0]), max(360, size[1]))
    sizes = state.get("splitter")
    if isinstance(sizes, list) and len(sizes) == 2 and all(isinstance(v, int) for v in sizes):
        splitter.setSizes([max(160, sizes[0]), max(200, sizes[1])])
    if state.get("maximized") is True:
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)


def save(window: Any, splitter: Any) -> None:
    size = window.normalGeometry().size() if window.isMaximized() else window.size()
    state = {
        "size": [size.width(), size.height()],
        "splitter": list(splitter.sizes()),
        "maximized": bool(window.isMaximized()),
    }
    try:
        write_text(_file(), json.dumps(state))
    except OSError as exc:  # a read-only config folder costs the layout, nothing else
        log.warning("could not save the window layout: %s", exc)
