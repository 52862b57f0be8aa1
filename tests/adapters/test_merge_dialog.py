"""The merge dialog and the lineage tree on a real widget tree (offscreen Qt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_merge_helpers import import_two_skills

pytest.importorskip("PySide6")


def test_merge_dialog_reports_before_activating(qtbot: Any, core: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from app.ui.merge_dialog import LineageView, MergeDialog

    ids = import_two_skills(core, tmp_path)
    dialog = MergeDialog(core)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.adapters.count() == 2, timeout=10_000)
    for row in range(2):
        dialog.adapters.item(row).setCheckState(Qt.CheckState.Checked)
    dialog.method.setCurrentText("ties")
    assert dialog.density.isEnabled() and not dialog.drop.isEnabled()
    dialog.rank.setValue(4)
    dialog.merge_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=120_000)
    text = dialog.report.toPlainText()
    assert "ties at rank 4" in text and "Energy kept" in text
    assert core.adapters.versions.active_id() is None  # nothing changes before Activate
    assert dialog.activate_button.isEnabled(), text
    dialog.activate_button.click()
    merged = dialog.outcome.adapter_id
    qtbot.waitUntil(lambda: core.adapters.versions.active_id() == merged, timeout=10_000)

    view = LineageView(core)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.topLevelItemCount() == 1, timeout=10_000)
    root = view.topLevelItem(0)
    assert root.data(0, Qt.ItemDataRole.UserRole) == merged and root.text(2) == "ties"
    children = [root.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(root.childCount())]
    assert sorted(children) == sorted(ids)
    view.tasks.shutdown()


def test_merge_dialog_shows_a_refusal(qtbot: Any, core: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from app.ui.merge_dialog import MergeDialog

    import_two_skills(core, tmp_path)
    dialog = MergeDialog(core)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.adapters.count() == 2, timeout=10_000)
    dialog.adapters.item(0).setCheckState(Qt.CheckState.Checked)
    dialog.merge_button.click()  # one adapter only
    qtbot.waitUntil(lambda: "Not merged" in dialog.report.toPlainText(), timeout=10_000)
    assert "at least two" in dialog.report.toPlainText()
    dialog.adapters.item(1).setCheckState(Qt.CheckState.Checked)
    dialog.weights.setText("1, x")
    dialog.merge_button.click()
    assert "weights must be numbers" in dialog.report.toPlainText()
    assert dialog.outcome is None
    dialog.reject()
    assert dialog.tasks.pool.activeThreadCount() == 0
