"""The menu bar: File (new chat, add model, models, quit) and Tools (memories, personalization).

The tool pages belong to other parts of Hearth; they are imported when opened (their heavy
imports stay out of the window's start), and one that fails to import says which module.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from app.errors import broken_install

log = logging.getLogger(__name__)

TOOL_PAGES = {
    "memories": ("app.ui.memory_manager", "MemoryManager", "Memories"),
    "personalization": ("app.ui.personalization", "PersonalizationPage", "Personalization"),
    "engines": ("app.ui.engines_page", "EnginesPage", "Engines"),
    "privacy": ("app.ui.privacy_page", "PrivacyPage", "Privacy"),
}


def build_menus(window: Any) -> None:
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    new = file_menu.addAction("New chat", window.new_conversation)
    new.setShortcut(QKeySequence.StandardKey.New)
    file_menu.addSeparator()
    add = file_menu.addAction("Add model…", window.add_model)
    add.setShortcut(QKeySequence("Ctrl+O"))
    window.models_menu = file_menu.addMenu("Models")
    window.models_menu.aboutToShow.connect(lambda: fill_models_menu(window))
    file_menu.addSeparator()
    quit_action = file_menu.addAction("Quit", window.close)
    quit_action.setShortcut(QKeySequence.StandardKey.Quit)

    chat_menu = bar.addMenu("&Chat")
    window.chat_menu = chat_menu  # the window adds its search and settings actions to it
    stop = chat_menu.addAction("Stop", window.stop_generation)
    stop.setShortcut(QKeySequence("Ctrl+."))
    chat_menu.addAction("Rename conversation", window.sidebar.rename_current)
    chat_menu.addAction("Delete conversation…", window.sidebar.delete_current)

    tools = bar.addMenu("&Tools")
    tools.addAction("Memories…", lambda: open_tool_page(window, "memories"))
    tools.addAction("Personalization…", lambda: open_tool_page(window, "personalization"))
    tools.addAction("Engines…", lambda: open_tool_page(window, "engines"))
    tools.addAction("Privacy…", lambda: open_tool_page(window, "privacy"))
    status = getattr(window, "status", None)
    if status is not None and hasattr(status, "privacy"):
        status.privacy.clicked.connect(lambda: open_tool_page(window, "privacy"))


def fill_models_menu(window: Any) -> None:
    menu: QMenu = window.models_menu
    menu.clear()
    session = window.session
    active = session.active_model_path()
    records = session.models()
    if not records:
        menu.addAction("No models yet").setEnabled(False)
        return
    group = QActionGroup(menu)
    for record in records:
        action = QAction(f"{record.name}  ({record.path.name})", menu)
        action.setCheckable(True)
        action.setChecked(active is not None and Path(record.path) == active)
        action.triggered.connect(lambda _c=False, rid=record.id: window.use_model(rid))
        group.addAction(action)
        menu.addAction(action)


def choose_model_file(parent: QWidget) -> Path | None:
    path, _filter = QFileDialog.getOpenFileName(
        parent, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
    )
    return Path(path) if path else None


def show_model_error(parent: QWidget, message: str) -> None:
    QMessageBox.warning(
        parent,
        "Cannot use this model",
        f"{message}\n\nThe model you were using stays active.",
    )


def open_tool_page(window: QMainWindow, key: str) -> QWidget | None:
    """Open one of the tool pages as a window of its own; None if it cannot be imported."""
    module_name, class_name, title = TOOL_PAGES[key]
    core = window.session.core
    if core is None:
        QMessageBox.information(window, title, "Hearth is still starting; try again in a moment.")
        return None
    try:
        page_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:  # a broken install, named, never "not there yet"
        log.error("tool page %s cannot open: %s", key, exc)
        QMessageBox.warning(window, title, f"{title} cannot open. {broken_install(exc)}.")
        return None
    page = window.tool_pages.get(key)
    if page is None:
        page = page_class(core, window)
        source = getattr(page, "open_source", None)
        if source is not None and hasattr(window, "open_message"):
            source.connect(window.open_message)  # a memory's source message opens in the chat
        if not isinstance(page, QDialog):
            page.setParent(window, page.windowFlags() | _window_flags())
        page.setWindowTitle(f"{title} — Hearth")
        page.resize(760, 560)
        window.tool_pages[key] = page
    page.show()
    page.raise_()
    page.activateWindow()
    return page


def _window_flags():
    from PySide6.QtCore import Qt

    return Qt.WindowType.Window
