"""The memory manager: every memory Hearth keeps, to search, filter (by kind, by the person or
topic it is about), edit, pin and delete; the message each came from; a one-line "what I know
about you" the user can correct; the user's own notes to import. All memory work runs on the task
pool, never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.cancel import CancelToken
from app.memory.profile import grouped, topic_of
from app.ui.memory_table import MemoryTable
from app.ui.tasks import Tasks

KINDS = ["fact", "preference", "note", "event"]
ALL_TOPICS = "Everyone and everything"


class _Progress(QObject):
    """Carries import progress from the worker thread to the GUI thread."""

    changed = Signal(int, int)


class MemoryManager(QWidget):
    """List, search, filter by kind, edit, pin, delete, delete all, import notes."""

    refreshed = Signal()  # the table shows the latest state
    changed = Signal()  # a memory was saved, pinned, deleted or imported
    failed = Signal(str)
    open_source = Signal(int, int)  # conversation id, message id: show that message
    source_shown = Signal()  # the selected memory's source message is on screen

    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.tasks = Tasks(self)
        self.rows: list[Any] = []  # the Memory records shown, in table order
        self.current: Any = None
        self._cancel: CancelToken | None = None
        self._progress = _Progress(self)
        self._progress.changed.connect(self._on_progress)
        self.confirm = self._ask  # tests replace this to answer for the user
        self._build()
        self.changed.connect(self.refresh)
        self.failed.connect(self._show_error)
        self.refresh()

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search memories…")
        self.search.setClearButtonEnabled(True)
        self.kind_filter = QComboBox(self)
        self.kind_filter.addItem("All kinds", None)
        for kind in KINDS:
            self.kind_filter.addItem(kind.capitalize(), kind)
        self.topic_filter = QComboBox(self)
        self.topic_filter.addItem(ALL_TOPICS, None)
        self.import_button = QPushButton("Import notes…", self)
        self.delete_all_button = QPushButton("Delete all…", self)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.kind_filter)
        top.addWidget(self.topic_filter)
        top.addWidget(self.import_button)
        top.addWidget(self.delete_all_button)

        self.table = MemoryTable(self)

        self.editor = QPlainTextEdit(self)
        self.editor.setPlaceholderText("Select a memory to edit it, or write a new one.")
        self.kind_edit = QComboBox(self)
        for kind in KINDS:
            self.kind_edit.addItem(kind.capitalize(), kind)
        self.source_label = QLabel(self)
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_text = QLabel(self)  # the words of the message the memory came from
        self.source_text.setWordWrap(True)
        self.source_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_source_button = QPushButton("Open conversation", self)
        self.summary_edit = QLineEdit(self)
        self.summary_edit.setPlaceholderText(
            "Nothing yet: tell Hearth about yourself, or write it here"
        )
        self.summary_button = QPushButton("Correct", self)
        self.summary_button.setToolTip("Keep this line as what Hearth knows about you")
        self.new_button = QPushButton("New", self)
        self.save_button = QPushButton("Save", self)
        self.pin_button = QPushButton("Pin", self)
        self.delete_button = QPushButton("Delete", self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.kind_edit)
        buttons.addStretch(1)
        for button in (self.new_button, self.save_button, self.pin_button, self.delete_button):
            buttons.addWidget(button)
        detail = QWidget(self)
        column = QVBoxLayout(detail)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.editor, 1)
        column.addWidget(self.source_label)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_text, 1)
        source_row.addWidget(self.open_source_button)
        column.addLayout(source_row)
        column.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.progress = QProgressBar(self)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel import", self)
        self.cancel_button.hide()
        self.status = QLabel(self)
        self.count_label = QLabel(self)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)

        about = QHBoxLayout()
        about.addWidget(QLabel("What I know about you:", self))
        about.addWidget(self.summary_edit, 1)
        about.addWidget(self.summary_button)

        layout = QVBoxLayout(self)
        layout.addLayout(about)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.kind_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        self.topic_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        self.summary_button.clicked.connect(self.correct_summary)
        self.summary_edit.returnPressed.connect(self.correct_summary)
        self.open_source_button.clicked.connect(self._open_source)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._on_select())
        self.new_button.clicked.connect(self.new_memory)
        self.save_button.clicked.connect(self.save)
        self.pin_button.clicked.connect(self.toggle_pin)
        self.delete_button.clicked.connect(self.delete_selected)
        self.delete_all_button.clicked.connect(self.delete_all)
        self.import_button.clicked.connect(self._choose_notes)
        self.cancel_button.clicked.connect(self.cancel_import)
        self._on_select()

    # -- reading ------------------------------------------------------------------------------
    @property
    def memory(self) -> Any:
        return self.core.memory

    def refresh(self) -> None:
        query = self.search.text().strip()
        kind = self.kind_filter.currentData()
        topic = self.topic_filter.currentData()
        memory = self.memory

        def work() -> tuple[list[Any], list[str], str]:
            if not query:
                rows = list(memory.memories(kind=kind))
            else:
                hits = memory.search(query, k=50, kind=kind)
                rows = [m for m in (memory.get(h.id) for h in hits) if m is not None]
            topics = [name for name, _mems in grouped(rows)]
            if topic is not None:
                rows = [m for m in rows if topic_of(m) == topic]
            return rows, topics, memory.summary()

        self.tasks.run(work, self._show, self._fail)

    def _show(self, result: tuple[list[Any], list[str], str]) -> None:
        rows, topics, summary = result
        self._show_topics(topics)
        if not self.summary_edit.hasFocus():
            self.summary_edit.setText(summary)
            self.summary_edit.setCursorPosition(0)  # the line reads from its start
        self._show_rows(rows)

    def _show_topics(self, topics: list[str]) -> None:
        """The topic filter offers the people and topics of what is listed (and keeps the one
        chosen)."""
        chosen = self.topic_filter.currentData()
        self.topic_filter.blockSignals(True)
        self.topic_filter.clear()
        self.topic_filter.addItem(ALL_TOPICS, None)
        for name in dict.fromkeys([*topics, *([chosen] if chosen else [])]):
            self.topic_filter.addItem(name, name)
        self.topic_filter.setCurrentIndex(max(0, self.topic_filter.findData(chosen)))
        self.topic_filter.blockSignals(False)

    def _show_rows(self, rows: list[Any]) -> None:
        keep = self.current.id if self.current is not None else None
        self.rows = rows
        self.table.memories.set_rows(rows)  # cells are made as they are drawn
        self.count_label.setText(f"{len(rows)} memor{'y' if len(rows) == 1 else 'ies'}")
        if keep is not None:
            self.select_memory(keep)
        self._on_select()
        self.refreshed.emit()

    def select_memory(self, memory_id: int) -> bool:
        for r, mem in enumerate(self.rows):
            if mem.id == memory_id:
                self.table.selectRow(r)
                return True
        return False

    def _on_select(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        mem = self.rows[selected[0].row()] if selected and self.rows else None
        self.current = mem
        self.pin_button.setEnabled(mem is not None)
        self.delete_button.setEnabled(mem is not None)
        self.source_text.setText("")
        self.open_source_button.setEnabled(False)
        if mem is None:
            self.source_label.setText("")
            return
        if mem.source_message_id is not None:
            self._load_source(mem)
        self.editor.setPlainText(mem.text)
        self.kind_edit.setCurrentIndex(max(0, KINDS.index(mem.kind)))
        self.pin_button.setText("Unpin" if mem.pinned else "Pin")
        self.source_label.setText(f"From: {mem.source} · added {mem.created_at[:16]}")

    def _load_source(self, mem: Any) -> None:
        """Show the words the memory came from, fetched off the GUI thread."""
        memory = self.memory

        def shown(text: str | None) -> None:
            if self.current is None or self.current.id != mem.id:
                return  # another memory was selected meanwhile
            if text is None:
                self.source_text.setText("The message it came from was deleted.")
            else:
                self.source_text.setText(f"You said: “{' '.join(text.split())[:400]}”")
                self.open_source_button.setEnabled(mem.conversation_id is not None)
            self.source_shown.emit()

        self.tasks.run(lambda: memory.source_text(mem), shown, self._fail)

    def _open_source(self) -> None:
        mem = self.current
        if mem is not None and None not in (mem.conversation_id, mem.source_message_id):
            self.open_source.emit(mem.conversation_id, mem.source_message_id)

    # -- changing -----------------------------------------------------------------------------
    def correct_summary(self) -> None:
        text = self.summary_edit.text().strip()
        if not text:
            return
        memory = self.memory
        self.summary_edit.clearFocus()
        self._run(lambda: memory.correct_summary(text), "Noted: that is what I know about you")

    def new_memory(self) -> None:
        self.current = None
        self.table.clearSelection()
        self.editor.clear()
        self.editor.setFocus()
        self._on_select()

    def save(self) -> None:
        text = self.editor.toPlainText().strip()
        if not text:
            return
        kind = self.kind_edit.currentData()
        memory, mem = self.memory, self.current
        if mem is None:
            self._run(lambda: memory.add(text, kind), "Remembered")
        else:
            self._run(lambda: memory.update(mem.id, text=text, kind=kind), "Saved")

    def toggle_pin(self) -> None:
        mem = self.current
        if mem is not None:
            memory = self.memory
            self._run(lambda: memory.pin(mem.id, not mem.pinned), "Pinned")

    def delete_selected(self) -> None:
        mem = self.current
        if mem is None or not self.confirm("Delete memory", f"Forget “{mem.text[:80]}”?"):
            return
        memory = self.memory
        self.current = None
        self._run(lambda: memory.forget(mem.id), "Deleted")

    def delete_all(self) -> None:
        if not self.confirm("Delete all memories", "Forget everything Hearth remembers?"):
            return
        memory = self.memory
        self.current = None
        self._run(memory.forget_all, "All memories deleted")

    def _run(self, work: Any, done_text: str) -> None:
        def finished(_result: Any) -> None:
            self.status.setText(done_text)
            self.changed.emit()

        self.tasks.run(work, finished, self._fail)

    # -- importing notes ----------------------------------------------------------------------
    def _choose_notes(self) -> None:
        files, _f = QFileDialog.getOpenFileNames(
            self, "Import notes", str(Path.home()), "Notes (*.txt *.md *.markdown)"
        )
        if not files:
            folder = QFileDialog.getExistingDirectory(self, "Import a folder of notes")
            files = [folder] if folder else []
        if files:
            self.import_notes([Path(f) for f in files])

    def import_notes(self, paths: list[Path]) -> None:
        memory, cancel, progress = self.memory, CancelToken(), self._progress
        self._cancel = cancel
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.import_button.setEnabled(False)

        def work() -> Any:
            return memory.import_notes(paths, progress.changed.emit, cancel)

        def finished(summary: Any) -> None:
            self._import_ended(f"Imported {summary.imported} notes from {summary.files} files")
            self.changed.emit()

        def failed(exc: BaseException) -> None:
            self._import_ended("Import cancelled" if cancel.cancelled else "Import failed")
            self.changed.emit()
            if not cancel.cancelled:
                self._fail(exc)

        self.tasks.run(work, finished, failed)

    def cancel_import(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _import_ended(self, text: str) -> None:
        self._cancel = None
        self.progress.hide()
        self.cancel_button.hide()
        self.import_button.setEnabled(True)
        self.status.setText(text)

    # -- messages -----------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self.failed.emit(str(exc) or type(exc).__name__)

    def _show_error(self, message: str) -> None:
        self.status.setText(f"Error: {message}")

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: Any) -> None:
        self.cancel_import()
        self.tasks.shutdown()
        super().closeEvent(event)
