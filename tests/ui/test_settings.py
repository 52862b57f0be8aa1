"""The Settings dialog: opened with Ctrl+, from the message box, models listed from their own
metadata, a change used by the next answer and kept after a restart, invalid values refused."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _open_settings(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    box = window.composer.input
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.settings_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.models.rowCount() >= 1, timeout=10_000)
    return dialog


def test_a_change_is_used_by_the_next_answer_and_survives_a_restart(make_window, driver, qtbot):
    from app.settings import load_settings

    window = make_window()
    dialog = _open_settings(window, qtbot)
    cells = [dialog.models.item(0, c).text() for c in range(dialog.models.columnCount())]
    assert cells[0] == "●" and cells[2] == "llama" and cells[3] == "Q4_1"
    assert cells[4].replace(",", "").isdigit()  # context length from the file's metadata
    dialog.inputs["max_tokens"].setValue(16)
    dialog.inputs["temperature"].setValue(0.0)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert window.session.core.settings.max_tokens == 16
    driver.type_and_send(window, "Write a long story about a lighthouse keeper.")
    driver.wait_reply(window)
    answer = window.session.core.conversations.messages(window.conversation_id)[-1]
    assert 0 < answer.tokens <= 16
    assert load_settings().max_tokens == 16
    window.shutdown()
    again = make_window()
    assert again.session.core.settings.max_tokens == 16
    assert _open_settings(again, qtbot).inputs["max_tokens"].value() == 16


def test_an_invalid_value_is_refused_with_its_reason(make_window, qtbot):
    from app.settings import load_settings

    window = make_window()
    dialog = _open_settings(window, qtbot)
    before = load_settings()
    dialog.inputs["system_prompt"].setPlainText("x" * 9000)
    dialog.inputs["max_tokens"].setValue(100)
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=10_000)
    assert "8000" in dialog.error.text() and dialog.isVisible()
    assert load_settings().max_tokens == before.max_tokens  # nothing was saved
    assert window.session.core.settings.max_tokens == before.max_tokens


def test_the_theme_applies_at_once(make_window, qtbot):
    from PySide6.QtWidgets import QApplication

    from app.ui.themes import shown_theme

    window = make_window()
    dialog = _open_settings(window, qtbot)
    dialog.inputs["theme"].setCurrentText("dark")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: shown_theme() == "dark", timeout=10_000)
    assert "#1b1c1f" in QApplication.instance().styleSheet()
    dialog = _open_settings(window, qtbot)
    dialog.inputs["theme"].setCurrentText("light")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: shown_theme() == "light", timeout=10_000)
    assert "#1b1c1f" not in QApplication.instance().styleSheet()
    QApplication.instance().setStyleSheet("")  # other tests run unstyled, as before
