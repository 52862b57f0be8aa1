"""The Privacy page: what Hearth holds (bars and a table), the network proof and its limits,
disk encryption, and the controls: export, delete a category, wipe, retention. Every figure is
computed off the GUI thread each time the page refreshes; long actions show progress and can be
cancelled.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cancel import CancelToken
from app.ui.tasks import Tasks

log = logging.getLogger(__name__)
COLUMNS = ["Category", "Size", "Items", "Oldest", "Newest", "Where"]


class StorageBars(QWidget):
    """Storage by category as horizontal bars (QtCharts is not part of Hearth's Qt)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, int, str]] = []  # (title, bytes, label)
        self.setMinimumHeight(120)

    def set_rows(self, rows: list[tuple[str, int, str]]) -> None:
        self.rows = [r for r in rows if r[1] > 0]
        self.setMinimumHeight(16 + 20 * max(1, len(self.rows)))
        self.update()

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        bar = self.palette().color(QPalette.ColorRole.Highlight)
        largest = max((size for _t, size, _l in self.rows), default=1) or 1
        label_w, size_w = 250, 80
        width = max(10, self.width() - label_w - size_w - 16)
        for i, (title, size, label) in enumerate(self.rows):
            y = 8 + i * 20
            painter.setPen(text)
            painter.drawText(QRectF(0, y, label_w - 8, 18), Qt.AlignmentFlag.AlignRight, title)
            painter.fillRect(QRectF(label_w, y + 3, max(2.0, width * size / largest), 12), bar)
            painter.drawText(QRectF(label_w + width + 8, y, size_w, 18), 0, label)
        if not self.rows:
            painter.setPen(QColor(text))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Hearth holds nothing yet")
        painter.end()


class _Signals(QObject):
    progress = Signal(int, int, str)


def _state(core: Any = None) -> dict[str, Any]:
    """Everything the page shows, computed now (runs on a worker thread)."""
    from app import paths
    from app.llm.servers import what_leaves
    from app.privacy import encryption, inventory, network, retention

    store = getattr(core, "store", None)
    return {
        "leaves": what_leaves(store) if store is not None else None,
        "inventory": inventory.build(),
        "proof": network.proof(),
        "encryption": encryption.status(paths.data_dir()),
        "rules": retention.load_rules(),
    }


class PrivacyPage(QWidget):
    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.privacy.controls import DEPENDS
        from app.privacy.network import BLIND_SPOTS, CHECK_YOURSELF, NO_TELEMETRY

        self.setWindowTitle("Privacy")
        self.core = core
        self.tasks = Tasks(self, max_threads=1)  # one action at a time, in order
        self.cancel_token: CancelToken | None = None
        self.state: dict[str, Any] = {}
        self._signals = _Signals(self)
        self._signals.progress.connect(self._on_progress)

        self.total = QLabel()
        self.bars = StorageBars()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.proof = QLabel()
        self.leaves = QLabel()
        self.leaves.setWordWrap(True)
        self.local_button = QPushButton("Back to fully local")
        self.local_button.setVisible(False)
        self.flags = QLabel()
        self.disk = QLabel()
        for label in (self.proof, self.flags, self.disk):
            label.setWordWrap(True)
        limits = QLabel(f"{NO_TELEMETRY}\n\n{BLIND_SPOTS}\n\n{CHECK_YOURSELF}")
        limits.setWordWrap(True)
        limits.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = QPushButton("Export everything…")
        self.category = QComboBox()
        for key in DEPENDS:
            self.category.addItem(key.capitalize(), key)
        self.delete_button = QPushButton("Delete…")
        self.wipe_button = QPushButton("Wipe everything…")
        self.conversation_days = QSpinBox()
        self.memory_days = QSpinBox()
        for box in (self.conversation_days, self.memory_days):
            box.setRange(0, 3650)
            box.setSpecialValueText("keep for ever")
            box.setSuffix(" days")
        self.save_rules_button = QPushButton("Save and apply")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.message = QLabel()
        self.message.setWordWrap(True)

        network = QGroupBox("What has left this computer")
        inner = QVBoxLayout(network)
        leaving = QHBoxLayout()
        leaving.addWidget(self.leaves, 1)
        leaving.addWidget(self.local_button)
        inner.addLayout(leaving)
        for widget in (self.proof, self.flags, limits):
            inner.addWidget(widget)
        controls = QGroupBox("Controls")
        rows = QVBoxLayout(controls)
        line = QHBoxLayout()
        line.addWidget(self.export_button)
        line.addStretch(1)
        line.addWidget(QLabel("Delete one category:"))
        line.addWidget(self.category)
        line.addWidget(self.delete_button)
        line.addWidget(self.wipe_button)
        rows.addLayout(line)
        keep = QHBoxLayout()
        keep.addWidget(QLabel("Delete conversations older than"))
        keep.addWidget(self.conversation_days)
        keep.addWidget(QLabel("Forget memories unused for"))
        keep.addWidget(self.memory_days)
        keep.addWidget(self.save_rules_button)
        rows.addLayout(keep)
        busy = QHBoxLayout()
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel_button)
        rows.addLayout(busy)
        rows.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.addWidget(self.total)
        layout.addWidget(self.bars)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.disk)
        layout.addWidget(network)
        layout.addWidget(controls)

        self.export_button.clicked.connect(self._choose_export)
        self.delete_button.clicked.connect(self._ask_delete)
        self.wipe_button.clicked.connect(self._ask_wipe)
        self.save_rules_button.clicked.connect(self.save_rules)
        self.local_button.clicked.connect(self.back_to_local)
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh()

    # -- figures ----------------------------------------------------------------------------
    def refresh(self) -> None:
        self.tasks.run(lambda: _state(self.core), self._show, self._error)

    def _show(self, state: dict[str, Any]) -> None:
        from app.privacy.inventory import human_size

        self.state = state
        found, proof, disk, rules = (
            state["inventory"],
            state["proof"],
            state["encryption"],
            state["rules"],
        )
        self.total.setText(f"Hearth holds {human_size(found.total_bytes)} on this computer, in "
                           f"{', '.join(found.roots)}")  # fmt: skip
        self.bars.set_rows([(c.title, c.size_bytes, human_size(c.size_bytes))
                            for c in found.categories])  # fmt: skip
        self.table.setRowCount(len(found.categories))
        for row, cat in enumerate(found.categories):
            cells = [
                cat.title,
                human_size(cat.size_bytes),
                f"{cat.count} {cat.unit}",
                (cat.oldest or "")[:10],
                (cat.newest or "")[:10],
                "; ".join(cat.paths),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, cat.key)
                self.table.setItem(row, col, item)
        leaves = state.get("leaves")
        self.leaves.setText(
            f"<b>What leaves this computer:</b> {leaves}."
            if leaves
            else "<b>Nothing leaves this computer:</b> every answer comes from the local model."
        )
        self.local_button.setVisible(bool(leaves))
        self.proof.setText(proof.summary + ".")
        offline = all(proof.offline_flags.values())
        self.flags.setText(
            ("Model hubs are set offline (" if offline else "Model hubs are NOT all offline (")
            + ", ".join(f"{k}={'1' if v else 'unset'}" for k, v in proof.offline_flags.items())
            + f"). The network guard is {'on' if proof.guard_installed else 'OFF'} and checks "
            f"{len(proof.guarded_events)} kinds of connection and name lookup."
            + _servers_line(proof.allowed_hosts, found.get("settings").details.get("servers", 0))
        )
        self.disk.setText(f"Disk encryption: {disk.state}. {disk.detail}. {disk.advice}".strip())
        self.conversation_days.setValue(rules.conversation_days or 0)
        self.memory_days.setValue(rules.memory_unused_days or 0)

    def back_to_local(self) -> None:
        """The switch back to fully local: the local model answers, the guard allows no server."""
        from app.llm.base import LOCAL
        from app.llm.remote_setup import choose

        self.local_button.setEnabled(False)

        def done(_answering: Any) -> None:
            self.local_button.setEnabled(True)
            status = getattr(self.parent(), "status", None)
            if status is not None and hasattr(status, "set_engine"):
                from app.ui.engines_page import engine_label

                status.set_engine(engine_label(self.core))
            self.refresh()

        self.tasks.run(lambda: choose(self.core, LOCAL), done, self._error)

    # -- long actions -----------------------------------------------------------------------
    def _begin(self, what: str) -> CancelToken:
        self.cancel_token = CancelToken()
        for button in (self.export_button, self.delete_button, self.wipe_button):
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.message.setText(what)
        return self.cancel_token

    def _end(self, text: str) -> None:
        for button in (self.export_button, self.delete_button, self.wipe_button):
            button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.cancel_token = None
        self.message.setText(text)
        self.refresh()

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.message.setText(f"{what} ({done} of {total})")

    def cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.message.setText("Cancelling…")

    def _failed(self, exc: BaseException) -> None:
        log.info("privacy action failed: %s", type(exc).__name__)
        self._end(str(exc))

    def _error(self, exc: BaseException) -> None:
        self.message.setText(str(exc))

    def _choose_export(self) -> None:
        from app import paths

        path, _ = QFileDialog.getSaveFileName(
            self, "Export everything", str(paths.exports_dir()), "Zip archives (*.zip)"
        )
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        from app.privacy.export import export_all

        token = self._begin("Exporting…")
        emit, store = self._signals.progress.emit, self.core.store
        self.tasks.run(
            lambda: export_all(store, path, progress=emit, cancel=token),
            lambda r: self._end(f"Exported {r.entries} entries to {r.path}"),
            self._failed,
        )

    def _ask_delete(self) -> None:
        from app.privacy.controls import DEPENDS

        key = str(self.category.currentData())
        keep = True
        if key == "conversations":
            answer = QMessageBox.question(
                self,
                "Delete conversations",
                f"{DEPENDS[key]}\n\nAlso remove the memories drawn from them?",
                QMessageBox.StandardButton.Yes
                | QMessageBox.StandardButton.No
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel:
                return
            keep = answer != QMessageBox.StandardButton.Yes
        else:
            answer = QMessageBox.question(self, f"Delete {key}", f"{DEPENDS[key]}\n\nDelete?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.delete(key, keep_memories=keep)

    def delete(self, key: str, *, keep_memories: bool = True) -> None:
        # One transaction: Cancel stops it until it starts, never half-way.
        token = self._begin(f"Deleting {key}…")
        core = self.core
        self.tasks.run(
            lambda: _delete_live(core, key, keep_memories, token),
            lambda d: self._end(f"Deleted {key}: {d.rows} rows, {d.files} files."),
            self._failed,
        )

    def _ask_wipe(self) -> None:
        from app.privacy.controls import WIPE_CONFIRMATION

        text, ok = QInputDialog.getText(
            self,
            "Wipe everything",
            "This deletes every conversation, memory, feedback example, adapter, model copy, "
            f'setting, log and export Hearth holds.\nType "{WIPE_CONFIRMATION}" to go on:',
        )
        if ok:
            self.wipe(text)

    def wipe(self, confirmation: str) -> None:
        token = self._begin("Wiping…")
        emit, core = self._signals.progress.emit, self.core
        self.tasks.run(
            lambda: _wipe_live(core, confirmation, emit, token),
            lambda _r: self._end("Everything Hearth held is deleted."),
            self._failed,
        )

    def save_rules(self) -> None:
        from app.privacy import retention

        rules = retention.Rules(self.conversation_days.value(), self.memory_days.value())
        store = self.core.store

        def run() -> Any:
            retention.save_rules(rules)
            return retention.apply(store)

        self._begin("Applying the retention rules…")
        self.tasks.run(
            run,
            lambda a: self._end(
                f"Rules saved; deleted {a.conversations} conversations, {a.memories} memories."
            ),
            self._failed,
        )

    def closeEvent(self, event: Any) -> None:
        self.cancel()
        super().closeEvent(event)


def _live_memory(core: Any) -> Any:
    return getattr(core, "_memory", None)


def _drop_adapter(core: Any) -> None:
    """The running model lets go of its adapter before the adapter's files go."""
    adapters = getattr(core, "_adapters", None)
    if adapters is not None:
        adapters.deactivate()


def _delete_live(core: Any, key: str, keep_memories: bool, token: CancelToken) -> Any:
    from app.privacy.controls import delete_category

    token.raise_if_cancelled()
    if key == "adapters":
        _drop_adapter(core)
    return delete_category(core.store, key, keep_memories=keep_memories, memory=_live_memory(core))


def _wipe_live(core: Any, confirmation: str, emit: Any, token: CancelToken) -> Any:
    from app.privacy.controls import WIPE_CONFIRMATION, wipe

    if confirmation.strip().lower() == WIPE_CONFIRMATION:
        _drop_adapter(core)
    return wipe(core.store, confirmation, progress=emit, cancel=token, memory=_live_memory(core))


def _servers_line(hosts: list[str], configured: int) -> str:
    """The one exception to "nothing leaves": servers of the user's own that they added."""
    if hosts:
        return (
            f" Allowed because you added them as servers: {', '.join(hosts)}; your messages "
            "go there when you choose one of them."
        )
    if configured:
        return f" You added {configured} server(s) of your own; none is in use now."
    return ""
