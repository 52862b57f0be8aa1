"""Where the window's look comes from: the style sheet and the icons under resources/."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication


def resources_dir() -> Path:
    """resources/ next to the app package (a source checkout or an unpacked bundle)."""
    return Path(__file__).resolve().parents[2] / "resources"


def apply_style(app: QApplication) -> None:
    """Load resources/style.qss; a missing file leaves Qt's own look, never an error."""
    app.setStyle("Fusion")
    qss = resources_dir() / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    app.setWindowIcon(icon("hearth"))


@cache
def icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
