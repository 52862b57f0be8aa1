"""The memories table: a model that takes the rows whole and makes each cell only when the view
draws it, so the Memories page lists 10,000 memories without a pause.

A QTableWidget built an item per cell on the GUI thread, and replacing the items of a filled
table re-measured its columns for every cell: refreshing 2,000 listed memories took minutes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.memory.profile import topic_of

COLUMNS = ["Memory", "Kind", "Pinned", "From", "Added", "About"]
Index = QModelIndex | QPersistentModelIndex


def cells(mem: Any) -> list[str]:
    """What a memory shows in each column."""
    return [
        mem.text,
        mem.kind,
        "📌" if mem.pinned else "",
        mem.source,
        mem.created_at[:10],
        topic_of(mem),
    ]


class MemoryTableModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[Any] = []
        self._cells: dict[int, list[str]] = {}  # row -> its texts, made when first drawn

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self.rows, self._cells = rows, {}
        self.endResetModel()

    def cell(self, row: int, column: int) -> str:
        texts = self._cells.get(row)
        if texts is None:
            texts = self._cells[row] = cells(self.rows[row])
        return texts[column]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return self.rows[index.row()].text
        if role == Qt.ItemDataRole.UserRole:
            return self.rows[index.row()].id
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class Cell:
    """One cell's text, as `MemoryTable.item` returns it."""

    def __init__(self, text: str) -> None:
        self._text = text

    def text(self) -> str:
        return self._text


class MemoryTable(QTableView):
    """The view: whole rows selected, nothing edited in place; columns sized on what is visible."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.memories = MemoryTableModel(self)
        self.setModel(self.memories)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setResizeContentsPrecision(0)  # measure the rows on screen, not all of them
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

    def rowCount(self) -> int:
        return self.memories.rowCount()

    def item(self, row: int, column: int) -> Cell | None:
        if not 0 <= row < self.memories.rowCount():
            return None
        return Cell(self.memories.cell(row, column))
