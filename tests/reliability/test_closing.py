"""Closing never blocks the GUI thread and never pulls the core from under running work: the
Personalization window and the Merge dialog return at once (their job, the core's, goes on;
closing the core cancels it), the consolidation's retention check honours its cancel token, and
the session keeps the core open until a task that outlived the window has finished."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from app.cancel import CancelToken
from app.errors import Cancelled
from tests.adapters.test_merge_helpers import import_two_skills
from tests.reliability.conftest import DATA

pytest.importorskip("PySide6")


def _adapter_files(core: Any) -> list[str]:
    from app import paths

    return sorted(p.name for p in paths.adapters_dir().glob("*.gguf"))


def test_retention_check_honours_its_cancel_token(
    core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.adapters.consolidate import merge_versions
    from app.adapters.scoring import LlamaScorer

    ids = import_two_skills(core, tmp_path)
    files = _adapter_files(core)
    token = CancelToken()
    passes: list[int] = []
    real_logits = LlamaScorer.logits

    def logits(self: Any, ids_: Any) -> Any:  # the user cancels during the first forward pass
        passes.append(len(ids_))
        token.cancel()
        return real_logits(self, ids_)

    monkeypatch.setattr(LlamaScorer, "logits", logits)
    with pytest.raises(Cancelled):
        merge_versions(core.adapters, ids, "ties", cancel=token)
    assert len(passes) == 1  # stopped at the next pass, not at the end of the check
    assert [v.id for v in core.adapters.list()] == ids  # nothing registered
    assert _adapter_files(core) == files  # and no merged file left behind


def test_closing_the_merge_dialog_during_a_merge_returns_at_once(
    qtbot: Any, core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge is the core's job: closing the dialog neither waits for it nor stops it."""
    from PySide6.QtCore import Qt

    from app.adapters.scoring import LlamaScorer
    from app.ui.merge_dialog import MergeDialog

    ids = import_two_skills(core, tmp_path)
    entered, release = threading.Event(), threading.Event()
    real_logits = LlamaScorer.logits

    def slow_logits(self: Any, ids_: Any) -> Any:  # a long evaluation (5 s at most)
        entered.set()
        release.wait(5)
        return real_logits(self, ids_)

    monkeypatch.setattr(LlamaScorer, "logits", slow_logits)
    dialog = MergeDialog(core)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.adapters.count() == 2, timeout=10_000)
    for row in range(2):
        dialog.adapters.item(row).setCheckState(Qt.CheckState.Checked)
    dialog.merge_button.click()
    qtbot.waitUntil(entered.is_set, timeout=120_000)
    job = core.learning.current
    dialog.reject()
    # Closing returned while the merge still ran, and did not cancel it.
    still_running = job is not None and job.running and not job.token.cancelled
    release.set()
    assert still_running
    assert core.learning.wait(120)
    assert job.state == "done", job.error
    assert [v.id for v in core.adapters.list()] == [*ids, job.outcome.adapter_id]
    assert core.adapters.versions.active_id() is None  # nothing activated without the user


def test_closing_personalization_during_training_returns_at_once(
    qtbot: Any, core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training is the core's job: closing the page neither waits for it nor stops it;
    closing the core cancels it, and nothing is registered."""
    from app.ui.personalization import PersonalizationPage

    # The training process stays in its first stage until stopped, as a slow load would.
    monkeypatch.setenv("HEARTH_TEST_HANG_STAGE", "loading")
    service = core.adapters
    service.feedback.import_jsonl(DATA)
    page = PersonalizationPage(core)
    qtbot.addWidget(page)
    page.show()
    page.train()
    qtbot.waitUntil(lambda: "loading" in page.message.text(), timeout=120_000)
    job = service.job
    assert job is not None
    page.close()
    running_at_return = service.job is job and job.process.poll() is None
    assert running_at_return  # close() returned before the job finished
    assert core.learning.running and not core.learning.current.token.cancelled
    core.learning.close()  # what closing the core (the window) does
    assert job.process.poll() is not None and service.job is None
    assert core.learning.last.state == "cancelled"
    qtbot.waitUntil(lambda: page.train_button.isEnabled(), timeout=10_000)
    assert "cancelled" in page.message.text()
    assert service.list() == []  # nothing registered, the active adapter unchanged


def test_session_close_keeps_the_core_open_under_a_running_task(qtbot: Any) -> None:
    from app.store import open_store
    from app.ui.session import Session
    from app.ui.tasks import Tasks

    tasks = Tasks()
    session = Session(tasks)
    session.open(load_model=False)
    qtbot.waitUntil(lambda: session.core is not None, timeout=60_000)
    core = session.core
    release, saved = threading.Event(), []

    def work() -> None:  # a reply being saved when the window closes
        release.wait(30)
        saved.append(core.conversations.create("saved after the window closed"))

    tasks.run(work)
    session.close(timeout_ms=50)
    assert not core.store._closed  # not closed under the task
    release.set()
    qtbot.waitUntil(
        lambda: session.closer is not None and not session.closer.is_alive(), timeout=30_000
    )
    assert saved and core.store._closed  # closed once the task had ended
    with open_store() as store:
        titles = [r[0] for r in store.query("SELECT title FROM conversations")]
    assert titles == ["saved after the window closed"]
    tasks.deleteLater()
