"""File > Add model…: a broken GGUF ends in a clear message, and the model in use stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox


def _bad_model(kind: str, folder: Path, default_model: Path) -> Path:
    path = folder / f"{kind}-model.gguf"
    if kind == "corrupt":
        path.write_bytes(os.urandom(4096))
    else:
        with open(default_model, "rb") as src:
            path.write_bytes(src.read(default_model.stat().st_size // 3))
    return path


@pytest.mark.parametrize(
    ("kind", "reason"), [("corrupt", "not a GGUF"), ("truncated", "truncated")]
)
def test_adding_a_broken_model_shows_why_and_keeps_the_previous_one(
    kind, reason, make_window, driver, qtbot, monkeypatch, tmp_path, default_model
):
    window = make_window()
    before = window.session.core.engine.model_info
    bad = _bad_model(kind, tmp_path, default_model)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda _p, title, text, *a: shown.append((title, text))
    )

    window.add_model()
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    title, text = shown[0]
    assert title == "Cannot use this model"
    assert bad.name in text and reason in text
    assert "stays active" in text
    core = window.session.core
    assert core.engine.model_info == before
    assert window.session.state == "ready"
    assert "Ready" in window.status.model.text()
    assert [m.path for m in core.models.list()] == [before.path]
    # The previous model still answers.
    driver.type_and_send(window, "Say yes.")
    driver.wait_reply(window)
    assert window.chat.answers()[0].text().strip()


def test_adding_a_good_model_switches_to_it_and_lists_it(
    make_window, qtbot, monkeypatch, tmp_path, default_model
):
    window = make_window()
    copy = tmp_path / "my-own-model.gguf"
    copy.write_bytes(default_model.read_bytes())
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(copy), ""))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a))
    window.add_model()
    qtbot.waitUntil(
        lambda: window.session.active_model_path() == copy.resolve() and window.session.ready,
        timeout=60_000,
    )
    assert not shown
    from app.ui.menus import fill_models_menu

    fill_models_menu(window)
    actions = window.models_menu.actions()
    assert len(actions) == 2
    checked = [a.text() for a in actions if a.isChecked()]
    assert len(checked) == 1 and "my-own-model.gguf" in checked[0]
