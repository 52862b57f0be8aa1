"""In the window, a model that crashes llama.cpp is a message; the window and the model in use
stay (the crash happens in the probe's child process, never in the app)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.llm import probe


@pytest.fixture(autouse=True)
def _fresh_verdicts():
    probe.forget()
    yield
    probe.forget()


def test_adding_a_model_that_crashes_llama_cpp_shows_why_and_keeps_the_previous_one(
    make_window, driver, qtbot, monkeypatch, model_copy
):
    window = make_window()
    before = window.session.core.engine.model_info
    crashing = model_copy("crashes-at-decode.gguf")
    monkeypatch.setenv(probe.FAULT_ENV, "segv")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(crashing), ""))
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda _p, title, text, *a: shown.append((title, text))
    )

    window.add_model()
    qtbot.waitUntil(lambda: bool(shown), timeout=120_000)
    title, text = shown[0]
    assert title == "Cannot use this model"
    assert "crashes-at-decode.gguf crashes llama.cpp on this computer" in text
    assert "signal 11" in text and "stays active" in text
    assert window.isVisible()
    assert window.session.core.engine.model_info == before
    driver.type_and_send(window, "Say yes.")
    driver.wait_reply(window)
    assert window.chat.answers()[0].text().strip()


def test_a_default_model_that_crashes_at_first_launch_is_a_message_in_the_window(
    make_window, qtbot, monkeypatch
):
    monkeypatch.setenv(probe.FAULT_ENV, "segv")
    window = make_window(wait_ready=False)
    qtbot.waitUntil(lambda: window.session.state in ("ready", "error"), timeout=120_000)
    assert window.session.state == "error"
    assert "crashes llama.cpp on this computer" in window.status.model.text()
    assert window.isVisible()
