"""Learning in the background, in the real window over a real core: a training started on the
Personalization page goes on when the page closes, the status bar follows it and the notice says
how it ended; closing the window cancels it without hanging; the automatic-training setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

DATA = Path(__file__).parents[1] / "adapters" / "data" / "ahoy_style.jsonl"
TRAIN_TIMEOUT_MS = 600_000


def _open_page(window: Any) -> Any:
    from app.ui.menus import open_tool_page

    page = open_tool_page(window, "personalization")
    assert page is not None
    return page


def test_closing_personalization_keeps_the_training_and_the_status_bar_follows_it(
    make_window: Any, qtbot: Any
) -> None:
    from app.adapters.train import TrainOptions
    from app.ui.personalization import PersonalizationPage

    window = make_window()
    core = window.session.core
    core.adapters.feedback.import_jsonl(DATA)
    steps: list[str] = []
    core.learning.add_listener(lambda job: steps.append(job.status_text()))
    page = _open_page(window)
    # The smallest real training (process, export, parity, gate): a few steps, one thread.
    page.train_options = TrainOptions(steps=3, threads=1, parity_prompts=1, guard_every=0)
    page.train()
    job = core.learning.current
    assert job is not None and not page.train_button.isEnabled()
    page.close()
    assert job.running and not job.token.cancelled  # closing the page did not stop it

    qtbot.waitUntil(lambda: "Learning: step" in window.status.learning.text(), timeout=300_000)
    assert window.status.learning.isVisible()
    assert job.running
    # A page opened while it runs shows its progress, not a blank state.
    fresh = PersonalizationPage(core)
    qtbot.addWidget(fresh)
    assert fresh.cancel_button.isEnabled() and not fresh.train_button.isEnabled()
    assert fresh.message.text().startswith("Training:"), fresh.message.text()
    fresh.close()
    # One click on the status bar opens the page again.
    window.status.learning.click()
    assert page.isVisible()
    page.close()

    qtbot.waitUntil(lambda: not core.learning.running, timeout=TRAIN_TIMEOUT_MS)
    assert job.state == "done", job.error
    outcome = job.outcome
    qtbot.waitUntil(lambda: not window.status.learning.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=10_000)
    assert window.notice.text.text() == job.end_text()
    expected = "New adapter active:" if outcome.activated else "not activated:"
    assert expected in window.notice.text.text()
    assert [v.id for v in core.adapters.list()] == [outcome.adapter_id]
    assert "Learning: step 3 of 3…" in steps
    # The page, closed all along, shows the outcome when reopened.
    qtbot.waitUntil(lambda: f"Adapter {outcome.adapter_id}" in page.message.text(), timeout=10_000)
    assert page.train_button.isEnabled()


def test_closing_the_window_cancels_the_training_without_hanging(
    make_window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.adapters.train_job import HANG_ENV

    # The training process stays in its first stage until stopped, as a slow load would.
    monkeypatch.setenv(HANG_ENV, "loading")
    window = make_window()
    core = window.session.core
    core.adapters.feedback.import_jsonl(DATA)
    page = _open_page(window)
    page.train()
    qtbot.waitUntil(lambda: "loading the model" in window.status.learning.text(), timeout=60_000)
    job, process = core.learning.current, core.adapters.job.process
    window.close()  # returns once the job is cancelled and the core closed
    assert job.state == "cancelled"
    assert process.poll() is not None  # no training process left behind
    assert core.store._closed


def test_automatic_training_is_a_setting_of_the_window(make_window: Any, qtbot: Any) -> None:
    from app.settings import load_settings

    window = make_window()
    core = window.session.core
    window.open_settings()
    dialog = window.settings_dialog
    box, count = dialog.inputs["auto_train"], dialog.inputs["auto_train_min_feedback"]
    assert not box.isChecked() and not count.isEnabled()  # off by default
    box.setChecked(True)
    assert count.isEnabled()
    count.setValue(6)
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert core.settings.auto_train is True and core.settings.auto_train_min_feedback == 6
    saved = load_settings()
    assert saved.auto_train is True and saved.auto_train_min_feedback == 6
    # On, with no feedback yet: the automatic trainer decides there is nothing to do.
    auto = core.learning.auto
    assert not auto.check()
    assert auto.last_reason == "0 new feedback items of the 6 needed"


def test_closing_the_merge_dialog_keeps_the_merge_and_the_window_says_how_it_ended(
    make_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    from PySide6.QtCore import Qt

    from app.ui.merge_dialog import MergeDialog
    from tests.adapters.test_merge_helpers import import_two_skills

    window = make_window()
    core = window.session.core
    ids = import_two_skills(core, tmp_path)
    dialog = MergeDialog(core, window)
    qtbot.waitUntil(lambda: dialog.adapters.count() == 2, timeout=10_000)
    for row in range(2):
        dialog.adapters.item(row).setCheckState(Qt.CheckState.Checked)
    dialog.merge_button.click()
    job = core.learning.current
    assert job is not None and job.kind == "merging"
    assert window.status.learning.text().startswith("Merging")
    dialog.reject()
    dialog.deleteLater()
    assert not job.token.cancelled  # closing the dialog did not stop the merge
    qtbot.waitUntil(lambda: not core.learning.running, timeout=TRAIN_TIMEOUT_MS)
    assert job.state == "done", job.error
    merged = job.outcome.adapter_id
    assert [v.id for v in core.adapters.list()] == [*ids, merged]
    assert core.adapters.versions.active_id() is None  # activating stays the user's choice
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=10_000)
    assert window.notice.text.text() == job.end_text()
    assert not window.status.learning.isVisible()
