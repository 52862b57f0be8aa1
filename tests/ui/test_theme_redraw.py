"""A theme chosen in Settings reaches what is already on screen: the open conversation's code
blocks take the new theme's colours (they are coloured when drawn; light code on a light
background was unreadable after a switch to dark)."""

from __future__ import annotations

ANSWER = "Here:\n\n```python\ndef add(a, b):\n    return a + b\n```\n"


def _code_background(window) -> str:
    answers = window.chat.answers()
    if not answers:
        return ""
    cursor = answers[0].view.document().find("return a + b")
    return "" if cursor.isNull() else cursor.block().blockFormat().background().color().name()


def _choose_theme(window, qtbot, theme: str) -> None:
    window.open_settings()
    dialog = window.settings_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)
    dialog.inputs["theme"].setCurrentText(theme)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)


def _open_code_answer(window, qtbot, light: str) -> int:
    """A stored conversation whose answer holds code, open in the window, drawn light."""
    core = window.session.core
    conv = core.conversations.create("Code")
    core.conversations.add_message(conv, "user", "How do I add two numbers?")
    core.conversations.add_message(conv, "assistant", ANSWER)
    window.refresh_conversations()
    qtbot.waitUntil(lambda: conv in window.sidebar.ids(), timeout=10_000)
    window.sidebar.select(conv)
    qtbot.waitUntil(lambda: _code_background(window) == light, timeout=10_000)
    return conv


def test_a_theme_change_redraws_the_open_conversations_code(make_window, qtbot):
    from PySide6.QtWidgets import QApplication

    from app.ui.text_view import CODE_BACKGROUND

    light, dark = CODE_BACKGROUND["light"].name(), CODE_BACKGROUND["dark"].name()
    window = make_window()
    conv = _open_code_answer(window, qtbot, light)
    try:
        _choose_theme(window, qtbot, "dark")
        qtbot.waitUntil(lambda: _code_background(window) == dark, timeout=10_000)
        assert window.conversation_id == conv
        _choose_theme(window, qtbot, "light")
        qtbot.waitUntil(lambda: _code_background(window) == light, timeout=10_000)
    finally:
        QApplication.instance().setStyleSheet("")  # other tests run unstyled, as before
        QApplication.instance().setProperty("hearthTheme", "light")


def test_the_desktops_own_switch_to_dark_redraws_them_too(make_window, qtbot, monkeypatch):
    """With the "system" theme, the desktop turning dark (its colour-scheme signal) restyles
    the window and draws the open conversation's code again. The offscreen platform cannot
    switch its scheme, so the desktop's answer is what is stood in for."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.ui import themes
    from app.ui.text_view import CODE_BACKGROUND

    app = QApplication.instance()
    window = make_window()
    themes.apply_theme(app, "system")  # what the app does at start with the default setting
    light, dark = CODE_BACKGROUND["light"].name(), CODE_BACKGROUND["dark"].name()
    conv = _open_code_answer(window, qtbot, light)
    try:
        monkeypatch.setattr(themes, "system_is_dark", lambda: True)
        app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        qtbot.waitUntil(lambda: _code_background(window) == dark, timeout=10_000)
        assert themes.shown_theme() == "dark" and window.conversation_id == conv
    finally:
        app.setStyleSheet("")  # other tests run unstyled, as before
        app.setProperty("hearthTheme", "light")
