"""Keyboard, with the focus in the message box: Enter sends, Shift+Enter breaks the line, Esc
stops, Ctrl+N starts a new chat, Ctrl+F searches, Ctrl+, opens Settings. Also: the window's
size and sidebar width come back after a restart, and the system's dark scheme is followed."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _focus_box(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    box = window.composer.input
    box.setFocus()
    return box


def test_shortcuts_from_the_message_box(make_window, driver, qtbot, settings_for_ui):
    settings_for_ui(max_tokens=300)
    window = make_window()
    box = _focus_box(window, qtbot)
    qtbot.keyClicks(box, "first line")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line" and not window.generating
    box.clear()
    tokens: list[str] = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    qtbot.keyClicks(box, "Tell me a very long story about the sea.")
    qtbot.keyClick(box, Qt.Key.Key_Return)  # Enter sends
    assert window.generating and box.toPlainText() == ""
    qtbot.waitUntil(lambda: len(tokens) >= 2, timeout=120_000)
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # Esc stops
    driver.wait_reply(window)
    stored = window.session.core.conversations.messages(window.conversation_id)
    assert stored[-1].meta["cancelled"] is True and stored[-1].tokens < 300

    box = _focus_box(window, qtbot)
    qtbot.keyClick(box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # Ctrl+N
    assert window.conversation_id is None and window.chat.message_widgets() == []
    box = _focus_box(window, qtbot)
    qtbot.keyClick(box, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Ctrl+F
    qtbot.waitUntil(lambda: window.search_dialog is not None and window.search_dialog.isVisible())
    window.search_dialog.hide()
    box = _focus_box(window, qtbot)
    qtbot.keyClick(box, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)  # Ctrl+,
    qtbot.waitUntil(
        lambda: window.settings_dialog is not None and window.settings_dialog.isVisible()
    )
    window.settings_dialog.hide()


def test_window_size_and_sidebar_width_are_remembered(make_window, qtbot):
    window = make_window(open_core=False)
    window.resize(1300, 800)
    window.splitter.setSizes([300, 1000])
    qtbot.waitUntil(lambda: window.splitter.sizes()[0] == 300, timeout=5_000)
    window.shutdown()
    again = make_window(open_core=False)
    assert (again.width(), again.height()) == (1300, 800)
    qtbot.waitUntil(lambda: again.splitter.sizes()[0] == 300, timeout=5_000)


def test_the_system_theme_is_followed(qtbot, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from app.ui import themes

    app = QApplication.instance()
    try:
        monkeypatch.setattr(themes, "system_is_dark", lambda: True)
        assert themes.apply_theme(app, "system") == "dark"
        monkeypatch.setattr(themes, "system_is_dark", lambda: False)
        themes._follow(app)  # what the system's colour-scheme change calls
        assert themes.shown_theme() == "light"
        assert themes.apply_theme(app, "dark") == "dark"
        monkeypatch.setattr(themes, "system_is_dark", lambda: True)
        themes._follow(app)
        assert themes.shown_theme() == "dark"  # an explicit theme ignores the system
    finally:
        app.setStyleSheet("")
        app.setProperty("hearthTheme", None)
