"""The Personalization page: feedback count, train now (progress, cancel), adapter history,
activate, roll back, and the adapter's strength. Work runs off the GUI thread; results come back
by signal. A training belongs to the core (`core.learning`): the page starts it and shows it, and
closing the page leaves it running (reopened, the page shows its progress again).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.notice import JobEvents
from app.ui.tasks import Tasks

log = logging.getLogger(__name__)
COLUMNS = ["", "Id", "Date", "Status", "Examples", "Held-back NLL", "Neutral ppl"]


class PersonalizationPage(QWidget):
    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Personalization")
        self.core = core
        self.service = core.adapters
        self.tasks = Tasks(self, max_threads=2)
        self.jobs = core.learning
        # None: the defaults at the user's adapter rank; tests train a few steps.
        self.train_options: Any = None
        self._events = JobEvents(self.jobs, self)
        self._events.changed.connect(self._on_job)

        self.feedback_label = QLabel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.train_button = QPushButton("Train now")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.activate_button = QPushButton("Activate")
        self.deactivate_button = QPushButton("Use base model")
        self.rollback_button = QPushButton("Roll back")
        self.import_button = QPushButton("Import…")
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 200)
        self.strength_label = QLabel()

        top = QHBoxLayout()
        top.addWidget(self.feedback_label, 1)
        top.addWidget(self.train_button)
        top.addWidget(self.cancel_button)
        actions = QHBoxLayout()
        for button in (
            self.activate_button,
            self.deactivate_button,
            self.rollback_button,
            self.import_button,
        ):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(QLabel("Strength"))
        actions.addWidget(self.strength, 1)
        actions.addWidget(self.strength_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        self._add_merge_parts(layout, actions)
        self._add_learning_parts(layout)

        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(self.cancel)
        self.activate_button.clicked.connect(self.activate_selected)
        self.deactivate_button.clicked.connect(lambda: self._do(self.service.deactivate))
        self.rollback_button.clicked.connect(lambda: self._do(self.service.rollback))
        self.import_button.clicked.connect(self._choose_import)
        self.strength.sliderReleased.connect(self._strength_released)
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"{v / 100:.2f}"))
        self.refresh()
        running = self.jobs.current
        if running is not None:  # reopened while a job runs: its progress, not a blank page
            self._on_job(running)

    def _add_merge_parts(self, layout: QVBoxLayout, actions: QHBoxLayout) -> None:
        from app.ui import merge_dialog

        def open_merge() -> None:
            dialog = merge_dialog.MergeDialog(self.core, self)
            dialog.exec()
            dialog.deleteLater()  # its merge, if any, goes on in the core

        merge = QPushButton("Merge…")
        merge.clicked.connect(open_merge)
        actions.insertWidget(3, merge)
        self.lineage = merge_dialog.LineageView(self.core)
        layout.addWidget(self.lineage)

    def _add_learning_parts(self, layout: QVBoxLayout) -> None:
        """The selected version in words, and the preferences the user stated."""
        from app.ui.preferences_box import PreferencesBox
        from app.ui.version_story import VersionStory

        self.story = VersionStory(self.core)
        self.preferences = PreferencesBox(self.core)
        layout.insertWidget(layout.indexOf(self.table) + 1, self.story)
        layout.addWidget(self.preferences)
        self.table.itemSelectionChanged.connect(lambda: self.story.show_version(self.selected_id()))

    # -- state ------------------------------------------------------------------------------
    def refresh(self) -> None:
        service = self.service
        self.tasks.run(
            lambda: (
                service.feedback.count(),
                service.feedback.count_trainable(),
                service.list(),
                service.active(),
            ),
            self._show,
            self._error,
        )

    def _show(self, state: tuple) -> None:
        total, trainable, versions, (active, scale) = state
        self.feedback_label.setText(f"{total} feedback items, {trainable} usable for training")
        self.table.setRowCount(len(versions))
        for row, version in enumerate(reversed(versions)):
            ev = version.manifest.get("evaluation") or {}
            cells = [
                "●" if active is not None and active.id == version.id else "",
                str(version.id),
                version.created_at[:16].replace("T", " "),
                version.status,
                str(version.manifest.get("dataset", {}).get("train_examples", "")),
                f"{ev['held_nll_base']:.2f} → {ev['held_nll_adapter']:.2f}" if ev else "",
                f"{(ev['neutral_ppl_ratio'] - 1) * 100:+.1f}%" if ev else "",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, version.id)
                self.table.setItem(row, col, item)
        self.strength.blockSignals(True)
        self.strength.setValue(round(scale * 100))
        self.strength.blockSignals(False)
        self.strength_label.setText(f"{scale:.2f}")
        if self.service.last_message:
            self.message.setText(self.service.last_message)

    def selected_id(self) -> int | None:
        items = self.table.selectedItems()
        return int(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    # -- actions ----------------------------------------------------------------------------
    def _do(self, fn: Any, *args: Any) -> None:
        self.tasks.run(lambda: fn(*args), lambda _r: self.refresh(), self._error)

    def activate_selected(self) -> None:
        adapter_id = self.selected_id()
        if adapter_id is not None:
            self._do(self.service.activate, adapter_id)

    def import_file(self, path: str) -> None:
        """Check and add a GGUF LoRA file; a refusal shows its reason on the page."""
        self._do(self.service.import_file, path)

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a LoRA adapter", "", "GGUF LoRA adapters (*.gguf);;All files (*)"
        )
        if path:
            self.import_file(path)

    def _strength_released(self) -> None:
        self._do(self.service.set_scale, self.strength.value() / 100)

    def train(self) -> None:
        """Start a training in the core; the page only shows it (it outlives the page)."""
        from app.adapters.train import TrainOptions

        rank = int(getattr(self.core.settings, "adapter_rank", 8))
        service, options = self.service, self.train_options or TrainOptions(rank=rank)

        def work(progress: Any, cancel: Any) -> Any:
            return service.train(options, on_progress=progress, cancel=cancel)

        try:
            job = self.jobs.start("training", work)
        except Exception as exc:  # another training or merge runs: said, nothing started
            self._error(exc)
            return
        if job.running:
            self._show_running(job)

    def cancel(self) -> None:
        if self.jobs.cancel():
            self.message.setText("Cancelling…")

    def _on_job(self, job: Any) -> None:
        if job.running:
            self._show_running(job)
            return
        self._job_done()
        self.lineage.refresh()
        if job.kind != "training":
            self.refresh()  # a merge added a version
        elif job.state == "done" and hasattr(job.outcome, "activated"):
            self._trained(job.outcome)
        else:
            self.message.setText(job.error or job.end_text())
            self.refresh()

    def _show_running(self, job: Any) -> None:
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        event = job.event
        if job.kind != "training":
            self.progress.setRange(0, 0)
            self.message.setText(job.status_text())
        elif event.get("event") == "progress":
            self.progress.setRange(0, int(event["steps"]))
            self.progress.setValue(int(event["step"]))
            self.message.setText(
                f"Training: step {event['step']} of {event['steps']}, loss {event['loss']:.3f},"
                f" about {event['eta_s']:.0f} s left"
            )
        elif event.get("event") == "phase":
            self.progress.setRange(0, 0)
            self.message.setText(f"Training: {event['phase']}…")
        elif not event:
            self.progress.setRange(0, 0)
            what = "An automatic training" if job.auto else "Training"
            self.message.setText(f"{what}: starting the training process…")
        else:  # the process has ended; the checks and the gate run
            self.progress.setRange(0, 0)
            self.message.setText("Training: checking the new adapter…")

    def _job_done(self) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    def _trained(self, outcome: Any) -> None:
        state = "activated" if outcome.activated else "kept, not activated"
        self.message.setText(f"Adapter {outcome.adapter_id}: {state}. {outcome.reason}")
        self.refresh()

    def _error(self, exc: BaseException) -> None:
        log.info("personalization: %s", exc)
        self.message.setText(str(exc))
