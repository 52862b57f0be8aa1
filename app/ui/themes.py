"""Light and dark: the theme setting (system, light or dark) and the system's own scheme.

With "system" the window follows the desktop's colour scheme, also when it changes while
Hearth runs. Dark is the light style sheet with `style-dark.qss` (colours only) on top.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.ui.theme import resources_dir

_current = {"theme": "system"}
_following: list[bool] = []
# Told when the shown theme flips, whoever flipped it (Settings or the desktop): what colours
# itself when drawn (code blocks) must be drawn again. Weak: a closed window is not kept.
_listeners: list[weakref.WeakMethod[Callable[[str], None]]] = []


def when_changed(method: Callable[[str], None]) -> None:
    """Call the bound `method` with "light" or "dark" each time the shown theme changes."""
    _listeners.append(weakref.WeakMethod(method))


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
    before = app.property("hearthTheme") or "light"  # unstyled Qt is light
    app.setStyleSheet("\n".join(parts))
    app.setProperty("hearthTheme", shown)
    if before != shown:
        _tell(shown)
    if not _following:
        _following.append(True)
        changed = getattr(QGuiApplication.styleHints(), "colorSchemeChanged", None)
        if changed is not None:
            changed.connect(lambda _scheme: _follow(app))
    return shown


def _tell(shown: str) -> None:
    for ref in list(_listeners):
        method = ref()
        if method is None:
            _listeners.remove(ref)
            continue
        try:
            method(shown)
        except RuntimeError:  # its widget was deleted by Qt before Python let go of it
            _listeners.remove(ref)


def _follow(app: QApplication) -> None:
    if _current["theme"] == "system":
        apply_theme(app, "system")


def shown_theme() -> str:
    app = QApplication.instance()
    value = app.property("hearthTheme") if app is not None else None
    return str(value) if value else "light"
