"""The Personalization page on a real core: counts, history, activate, strength, roll back."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from app.core import Core
from tests.adapters.conftest import DATA, Trained


def test_page_shows_and_changes_the_active_adapter(qtbot, core: Core, trained: Trained) -> None:
    from app.ui.personalization import PersonalizationPage

    core.adapters.feedback.import_jsonl(DATA)
    adapter_id = core.adapters.import_file(trained.adapter)
    page = PersonalizationPage(core)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=30000)
    assert "25 feedback items, 25 usable" in page.feedback_label.text()
    assert page.table.item(0, 3).text() == "imported"
    page.table.selectRow(0)
    page.activate_selected()
    qtbot.waitUntil(lambda: page.table.item(0, 0).text() == "●", timeout=30000)
    assert core.adapters.versions.active_id() == adapter_id
    page.strength.setValue(50)
    page._strength_released()
    qtbot.waitUntil(lambda: core.adapters.versions.scale() == 0.5, timeout=30000)
    page.rollback_button.click()
    qtbot.waitUntil(lambda: page.table.item(0, 0).text() == "", timeout=30000)
    assert core.adapters.versions.active_id() is None
    page.close()


def test_a_bad_file_is_refused_with_its_reason(qtbot, core: Core, tmp_path) -> None:
    from app.ui.personalization import PersonalizationPage

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    page = PersonalizationPage(core)
    qtbot.addWidget(page)
    page.import_file(str(junk))
    qtbot.waitUntil(lambda: page.message.text() != "", timeout=30000)
    assert "not a GGUF" in page.message.text(), page.message.text()
    assert core.adapters.list() == []
    page.close()
