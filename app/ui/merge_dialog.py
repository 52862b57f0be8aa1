"""Merging adapters in the window: a dialog (adapters, method, weights, density, rank, and the
report before anything is activated) and the lineage of adapter versions as a tree.

The merge and its evaluation are a job of the core (`core.learning`): they run on its thread and
go on when the dialog closes (the window says how the merge ended); progress comes back by
signal. Nothing is activated until the user has read the report and pressed Activate.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.notice import JobEvents
from app.ui.tasks import Tasks

log = logging.getLogger(__name__)
METHODS = ["ties", "linear", "dare", "cat"]  # the first is consolidation's default
MERGEABLE = ("ready", "imported")


class MergeDialog(QDialog):
    """Choose adapters and a method, merge, read the report, then activate (or not)."""

    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Merge adapters")
        self.core = core
        self.service = core.adapters
        self.tasks = Tasks(self, max_threads=1)
        self.jobs = core.learning
        self.job: Any = None  # the merge this dialog shows (started here, or running at open)
        self.outcome: Any = None
        self._events = JobEvents(self.jobs, self)
        self._events.changed.connect(self._on_job)

        self.adapters = QListWidget()
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("1, 1 (one per adapter; linear, ties, dare)")
        self.density = _spin(0.01, 1.0, 0.5)
        self.drop = _spin(0.0, 0.99, 0.5)
        self.variant = QComboBox()
        self.variant.addItems(["linear", "ties"])
        self.rank = QSpinBox()
        self.rank.setRange(1, 512)
        from app.adapters.consolidate import preference_rank

        self.rank.setValue(preference_rank(core))
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("The merge report appears here before anything changes.")
        self.merge_button = QPushButton("Merge")
        self.activate_button = QPushButton("Activate")
        self.activate_button.setEnabled(False)
        self.close_button = QPushButton("Close")

        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Weights", self.weights)
        form.addRow("Density (ties)", self.density)
        form.addRow("Drop p (dare)", self.drop)
        form.addRow("Combine (dare)", self.variant)
        form.addRow("Rank", self.rank)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.merge_button, self.activate_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Adapters to merge (tick two or more)"))
        layout.addWidget(self.adapters, 1)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.report, 1)
        layout.addLayout(buttons)

        self.method.currentTextChanged.connect(self._method_changed)
        self.merge_button.clicked.connect(self.merge)
        self.activate_button.clicked.connect(self.activate)
        self.close_button.clicked.connect(self.reject)
        self._method_changed(self.method.currentText())
        self.tasks.run(self.service.versions.list, self._show_versions, self._error)
        running = self.jobs.current
        if running is not None and running.kind == "merging":  # reopened during a merge
            self.job = running
            self._show_running(running)

    def _show_versions(self, versions: list[Any]) -> None:
        self.adapters.clear()
        for version in reversed(versions):
            if version.status not in MERGEABLE or version.path is None:
                continue
            kind = version.manifest.get("kind", "personal")
            item = QListWidgetItem(f"{version.id}  {version.name}  ({kind})")
            item.setData(Qt.ItemDataRole.UserRole, version.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.adapters.addItem(item)

    def _method_changed(self, method: str) -> None:
        self.density.setEnabled(method == "ties")
        self.drop.setEnabled(method == "dare")
        self.variant.setEnabled(method == "dare")
        self.weights.setEnabled(method != "cat")
        self.rank.setEnabled(True)

    def selected_ids(self) -> list[int]:
        items = (self.adapters.item(i) for i in range(self.adapters.count()))
        return [
            int(item.data(Qt.ItemDataRole.UserRole))
            for item in items
            if item.checkState() == Qt.CheckState.Checked
        ]

    def options(self) -> Any:
        from app.adapters.merge import make_options
        from app.errors import HearthError

        method = self.method.currentText()
        text = self.weights.text().replace(",", " ").split()
        try:
            weights = [float(w) for w in text] if text and method != "cat" else None
        except ValueError:
            raise HearthError("weights must be numbers, one per adapter") from None
        return make_options(
            method,
            weights=weights,
            density=self.density.value() if method == "ties" else None,
            drop=self.drop.value() if method == "dare" else None,
            variant=self.variant.currentText() if method == "dare" else None,
            rank=self.rank.value(),
        )

    def merge(self) -> None:
        try:
            ids, method, options = self.selected_ids(), self.method.currentText(), self.options()
            if len(set(ids)) < 2:
                from app.errors import AdapterError

                raise AdapterError("choose at least two different adapters to merge")
            self.job = self.jobs.merge(ids, method, options)
        except Exception as exc:  # bad options, or a training or merge already runs: shown
            self._error(exc)
            return
        self._show_running(self.job)

    def _show_running(self, job: Any) -> None:
        self.merge_button.setEnabled(False)
        self.activate_button.setEnabled(False)
        self.progress.setVisible(True)
        self.report.setPlainText("Merging and measuring what each adapter keeps…")
        done, total = job.event.get("done"), job.event.get("total")
        if isinstance(done, int) and isinstance(total, int) and total > 0:
            self._on_step(done, total)
        else:
            self.progress.setRange(0, 0)

    def _on_job(self, job: Any) -> None:
        if job is not self.job:
            return
        if job.running:
            done, total = job.event.get("done"), job.event.get("total")
            if isinstance(done, int) and isinstance(total, int) and total > 0:
                self._on_step(done, total)
        elif job.state == "done":
            self._merged(job.outcome)
        else:
            self._error(RuntimeError(job.error or job.state))

    def _on_step(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _merged(self, outcome: Any) -> None:
        self.outcome = outcome
        self.progress.setVisible(False)
        self.merge_button.setEnabled(True)
        self.activate_button.setEnabled(bool(outcome.passed))
        self.report.setPlainText(report_text(outcome))

    def activate(self) -> None:
        if self.outcome is None:
            return
        adapter_id = self.outcome.adapter_id
        self.activate_button.setEnabled(False)
        self.tasks.run(
            lambda: self.service.activate(adapter_id), lambda _: self.accept(), self._error
        )

    def _error(self, exc: BaseException) -> None:
        self.progress.setVisible(False)
        self.merge_button.setEnabled(True)
        self.report.setPlainText(f"Not merged: {exc}")

    # Closing never waits for the merge, and no longer stops it: it is the core's job, and the
    # window says how it ended (the new version is then on the Personalization page).


def report_text(outcome: Any) -> str:
    report = outcome.report
    lines = [
        f"New adapter {outcome.adapter_id}: {report['method']} at rank {report['rank']}"
        f" ({report['seconds']:.1f} s)",
        f"Energy kept by the rank cut: lowest {report['energy_kept_min']:.1%},"
        f" mean {report['energy_kept_mean']:.1%}",
        f"Sign conflicts between the adapters: {report['sign_conflict_mean']:.1%}",
    ]
    for effect in outcome.effects:
        from app.adapters.consolidate import kept_share

        kept = kept_share(effect)
        share = "no measurable effect" if kept is None else f"keeps {kept:.0%} of its effect"
        lines.append(f"Adapter {effect['id']}: {share}")
    if outcome.neutral_ppl_ratio is not None:
        lines.append(f"Neutral perplexity: {(outcome.neutral_ppl_ratio - 1) * 100:+.1f}%")
    lines.append(
        ("Ready to activate: " if outcome.passed else "Not recommended: ") + outcome.reason
    )
    return "\n".join(lines)


class LineageView(QTreeWidget):
    """Adapter versions as a tree: each merge above the adapters it was made from."""

    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.tasks = Tasks(self, max_threads=1)
        self.setHeaderLabels(["Adapter", "Kind", "Method", "Kept", "Status"])
        self.refresh()

    def refresh(self) -> None:
        from app.adapters.merge.lineage import lineage

        versions = self.core.adapters.versions
        self.tasks.run(lambda: lineage(versions.list(), versions.active_id()), self._show)

    def _show(self, roots: list[Any]) -> None:
        self.clear()
        for root in roots:
            self.addTopLevelItem(self._item(root))
        self.expandAll()

    def _item(self, node: Any) -> QTreeWidgetItem:
        kept = f"{node.retained_min:.0%}" if node.retained_min is not None else ""
        label = f"{node.id}  {node.name}" + ("  ●" if node.active else "")
        item = QTreeWidgetItem([label, node.kind, node.method or "", kept, node.status])
        item.setData(0, Qt.ItemDataRole.UserRole, node.id)
        for child in node.children:
            item.addChild(self._item(child))
        return item


def _spin(low: float, high: float, value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(0.05)
    spin.setDecimals(2)
    spin.setValue(value)
    return spin
