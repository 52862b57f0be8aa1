"""The preferences the user stated ("keep answers short"), on the Personalization page: listed in
the order they apply, added, rewritten in place (double-click) and deleted. They go into the
system prompt of the next answer (`app.adapters.statements`)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import HearthError

log = logging.getLogger(__name__)


class PreferencesBox(QGroupBox):
    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__("Your stated preferences (apply to every answer)", parent)
        self.feedback = core.adapters.feedback
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("For example: keep answers short")
        self.add_button = QPushButton("Add")
        self.delete_button = QPushButton("Delete")
        self.message = QLabel()
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.add_button.clicked.connect(self.add)
        self.entry.returnPressed.connect(self.add)
        self.delete_button.clicked.connect(self.delete_selected)
        self.list.itemChanged.connect(self._edited)
        self.refresh()

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for item in self.feedback.list("statement"):
            row = QListWidgetItem(item.statement or "")
            row.setData(Qt.ItemDataRole.UserRole, item.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(row)
        self.list.blockSignals(False)

    def add(self) -> None:
        text = self.entry.text().strip()
        if not text:
            return
        self._do(lambda: self.feedback.add_statement(text))
        self.entry.clear()

    def delete_selected(self) -> None:
        row = self.list.currentItem()
        if row is not None:
            feedback_id = int(row.data(Qt.ItemDataRole.UserRole))
            self._do(lambda: self.feedback.delete(feedback_id))

    def _edited(self, row: QListWidgetItem) -> None:
        feedback_id = int(row.data(Qt.ItemDataRole.UserRole))
        self._do(lambda: self.feedback.update_statement(feedback_id, row.text()))

    def _do(self, action: Any) -> None:
        try:
            action()
            self.message.setText("")
        except HearthError as exc:  # an empty rewrite: said, and the list shows what is kept
            log.info("preferences: %s", exc)
            self.message.setText(str(exc))
        # Later, not now: an edit arrives from inside the very row the refresh replaces.
        QTimer.singleShot(0, self.refresh)
