"""The conversation list: new, select, rename (double-click or F2) and delete (with a confirm)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
)

from app.ui.theme import icon

ID_ROLE = Qt.ItemDataRole.UserRole


def age_group(updated_at: str, today: date | None = None) -> str:
    """ "Today", "Yesterday", "Previous 7 days", "Previous 30 days" or "Older" (UTC dates)."""
    try:
        day = datetime.fromisoformat(updated_at.replace("Z", "+00:00")).astimezone(UTC).date()
    except (ValueError, AttributeError):
        return "Older"
    today = today or datetime.now(UTC).date()
    age = (today - day).days
    if age <= 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if age <= 7:
        return "Previous 7 days"
    return "Previous 30 days" if age <= 30 else "Older"


class Sidebar(QFrame):
    selected = Signal(object)  # conversation id, or None for a new one
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setMinimumWidth(220)
        self.setMaximumWidth(320)
        box = QVBoxLayout(self)
        box.setContentsMargins(12, 14, 12, 12)
        box.setSpacing(10)
        brand = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(icon("hearth").pixmap(22, 22))
        name = QLabel("Hearth", self)
        name.setObjectName("brand")
        brand.addWidget(logo)
        brand.addWidget(name)
        brand.addStretch(1)
        box.addLayout(brand)
        self.new_button = QPushButton(icon("plus"), "New chat", self)
        self.new_button.setObjectName("newChat")
        self.new_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_button.clicked.connect(self.new_requested)
        box.addWidget(self.new_button)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setWordWrap(False)
        self.list.setUniformItemSizes(True)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemChanged.connect(self._item_changed)
        delete = QAction("Delete", self.list)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self.delete_current)
        self.list.addAction(delete)
        box.addWidget(self.list, 1)
        self._filling = False

    # -- content ---------------------------------------------------------------------------
    def set_conversations(self, conversations: list, current: int | None) -> None:
        """Show `conversations` (objects with .id and .title), selecting `current`."""
        self._filling = True
        try:
            self.list.clear()
            last_group = None
            for conv in conversations:
                group = age_group(getattr(conv, "updated_at", ""))
                if group != last_group:
                    self._add_header(group)
                    last_group = group
                item = QListWidgetItem(conv.title)
                item.setData(ID_ROLE, conv.id)
                item.setToolTip(conv.title)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.list.addItem(item)
                if conv.id == current:
                    self.list.setCurrentItem(item)
            if current is None:
                self.list.setCurrentRow(-1)
        finally:
            self._filling = False

    def _add_header(self, text: str) -> None:
        header = QListWidgetItem(text.upper())
        header.setFlags(Qt.ItemFlag.NoItemFlags)
        header.setData(ID_ROLE, None)
        font = header.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.75))
        font.setBold(True)
        header.setFont(font)
        header.setForeground(QColor("#8a8f98"))
        self.list.addItem(header)

    def ids(self) -> list[int]:
        items = (self.list.item(i) for i in range(self.list.count()))
        return [item.data(ID_ROLE) for item in items if item.data(ID_ROLE) is not None]

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else item.data(ID_ROLE)

    def select(self, conversation_id: int | None) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == conversation_id:
                self.list.setCurrentRow(i)
                return

    # -- actions ---------------------------------------------------------------------------
    def _current_changed(self, item: QListWidgetItem | None, _previous) -> None:
        if not self._filling and item is not None and item.data(ID_ROLE) is not None:
            self.selected.emit(item.data(ID_ROLE))

    def _item_changed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.rename_requested.emit(item.data(ID_ROLE), item.text())

    def rename_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and item.data(ID_ROLE) is not None:
            self.list.editItem(item)

    def delete_current(self) -> None:
        item = self.list.currentItem()
        if item is None or item.data(ID_ROLE) is None:
            return
        # No confirmation: the window offers Undo for a while instead.
        self.delete_requested.emit(item.data(ID_ROLE))

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(ID_ROLE) is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction(icon("edit"), "Rename", self.rename_current)
        menu.addAction(icon("trash"), "Delete…", self.delete_current)
        menu.exec(self.list.viewport().mapToGlobal(pos))
