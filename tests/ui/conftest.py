"""pytest-qt fixtures for the window: offscreen Qt, small replies, no thread left behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

REPLY_TIMEOUT_MS = 120_000


@pytest.fixture
def core(hearth_home: Path) -> Any:
    """A core without the chat model (the memory pages need the store and the embedder)."""
    import torch

    torch.set_num_threads(1)
    from app.core import Core

    opened = Core.open(load_model=False)
    yield opened
    opened.close()


@pytest.fixture
def settings_for_ui(hearth_home):
    """Short greedy replies; memory off unless a test turns it on (its model is slow to load)."""
    from app.settings import Settings, save_settings

    def write(**overrides) -> None:
        values = {"max_tokens": 24, "temperature": 0.0, "memory_enabled": False, "threads": 1}
        values.update(overrides)
        save_settings(Settings(**values))

    write()
    return write


@pytest.fixture
def make_window(qtbot, settings_for_ui) -> Iterator[Callable[..., object]]:
    """Build MainWindows; each is shut down (reply stopped, tasks joined, core closed) after."""
    from app.ui.main_window import MainWindow

    made: list[MainWindow] = []

    def make(open_core: bool = True, wait_ready: bool = True) -> MainWindow:
        window = MainWindow(open_core=open_core)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        if open_core and wait_ready:
            ChatDriver(qtbot).wait_ready(window)
        return window

    yield make
    for window in made:
        window.shutdown()
        assert window.tasks.pool.activeThreadCount() == 0
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("hearth-engine")]
    assert leftover == [], f"threads left running: {leftover}"


class ChatDriver:
    """What a person does in the window, and waiting for its results."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def wait_ready(self, window) -> None:
        self.qtbot.waitUntil(
            lambda: window.session.state in ("ready", "error"), timeout=REPLY_TIMEOUT_MS
        )
        assert window.session.state == "ready", window.status.model.text()

    def type_and_send(self, window, text: str) -> None:
        from PySide6.QtCore import Qt

        box = window.composer.input
        box.setFocus()
        self.qtbot.keyClicks(box, text)
        self.qtbot.keyClick(box, Qt.Key.Key_Return)

    def wait_reply(self, window) -> None:
        self.qtbot.waitUntil(lambda: not window.generating, timeout=REPLY_TIMEOUT_MS)

    def wait_tasks(self, window) -> None:
        self.qtbot.waitUntil(lambda: not window.tasks._live, timeout=REPLY_TIMEOUT_MS)


@pytest.fixture
def driver(qtbot) -> ChatDriver:
    return ChatDriver(qtbot)
