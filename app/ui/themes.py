"""Light and dark: the theme setting (system, light or dark) and the system's own scheme.

With "system" the window follows the desktop's colour scheme, also when it changes while
Hearth runs. Dark is the light style sheet with `style-dark.qss` (colours only) on top.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.ui.theme import resources_dir

_current = {"theme": "system"}
_following: list[bool] = []


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def effective(theme: str) -> str:
    """ "light" or "dark" for a theme setting."""
    if theme == "dark" or (theme == "system" and system_is_dark()):
        return "dark"
    return "light"


def apply_theme(app: QApplication, theme: str) -> str:
    """Style the whole application for `theme`; returns "light" or "dark"."""
    _current["theme"] = theme
    shown = effective(theme)
    parts = []
    for name in ("style.qss", "style-dark.qss" if shown == "dark" else ""):
        path = resources_dir() / name if name else None
        if path is not None and path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    app.setStyleSheet("\n".join(parts))
    app.setProperty("hearthTheme", shown)
    if not _following:
        _following.append(True)
        changed = getattr(QGuiApplication.styleHints(), "colorSchemeChanged", None)
        if changed is not None:
            changed.connect(lambda _scheme: _follow(app))
    return shown


def _follow(app: QApplication) -> None:
    if _current["theme"] == "system":
        apply_theme(app, "system")


def shown_theme() -> str:
    app = QApplication.instance()
    value = app.property("hearthTheme") if app is not None else None
    return str(value) if value else "light"
