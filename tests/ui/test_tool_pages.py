"""Tools > Memories… and Personalization… open their pages, or say they are not there yet."""

from __future__ import annotations

import importlib.util

import pytest
from PySide6.QtWidgets import QMessageBox

from app.ui.menus import TOOL_PAGES, open_tool_page


@pytest.mark.parametrize("key", sorted(TOOL_PAGES))
def test_tool_page_opens_as_its_own_window_or_explains(key, make_window, monkeypatch):
    window = make_window()
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text: told.append(text))
    module, _cls, title = TOOL_PAGES[key]
    page = open_tool_page(window, key)
    if importlib.util.find_spec(module) is None:
        assert page is None and told and "not available" in told[0]
        return
    assert page is not None and page.isVisible() and page.isWindow()
    assert page.windowTitle().startswith(title)
    assert open_tool_page(window, key) is page  # a second click raises the same page
    page.close()


def test_tool_menu_entries_exist(make_window):
    window = make_window(open_core=False)
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    tools = [a.text() for a in menus["Tools"].actions()]
    assert tools == ["Memories…", "Personalization…", "Engines…", "Privacy…"]
    files = [a.text() for a in menus["File"].actions() if a.text()]
    assert "Add model…" in files and "Models" in files
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles.count("Chat") == 1, titles  # one Chat menu, with every chat action in it
    chat = [a.text() for a in menus["Chat"].actions() if a.text()]
    assert {"Stop", "Search conversations…", "Settings…"} <= set(chat)
