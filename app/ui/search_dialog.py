"""Search across every conversation (Ctrl+F): type, see the matching messages with the words in
bold, and open one at that message. The search runs off the GUI thread as the user types."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.conversation_search import Hit, search

HIT_ROLE = Qt.ItemDataRole.UserRole + 1
TYPING_PAUSE_MS = 150


class SearchDialog(QDialog):
    opened = Signal(int, int)  # conversation id, message id

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setObjectName("searchDialog")
        self.setWindowTitle("Search conversations")
        self.resize(620, 460)
        box = QVBoxLayout(self)
        self.query = QLineEdit(self)
        self.query.setObjectName("searchQuery")
        self.query.setPlaceholderText("Search all conversations")
        self.query.setClearButtonEnabled(True)
        self.results = QListWidget(self)
        self.results.setObjectName("searchResults")
        self.results.setWordWrap(True)
        self.status = QLabel("", self)
        self.status.setObjectName("searchStatus")
        box.addWidget(self.query)
        box.addWidget(self.results, 1)
        box.addWidget(self.status)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TYPING_PAUSE_MS)
        self._timer.timeout.connect(self.run_search)
        self.query.textChanged.connect(lambda _t: self._timer.start())
        self.query.returnPressed.connect(self._open_first)
        self.results.itemActivated.connect(self._open)
        self.results.itemClicked.connect(self._open)
        self._asked = ""

    def show_search(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()
        self.query.setFocus()
        self.query.selectAll()

    def run_search(self) -> None:
        core = self.window_.session.core
        text = self.query.text().strip()
        self._asked = text
        if core is None or not text:
            self.show_hits(text, [])
            return
        store = core.store
        self.window_.tasks.run(lambda: (text, search(store, text)), self._arrived)

    def _arrived(self, result: tuple[str, list[Hit]]) -> None:
        text, hits = result
        if text == self._asked:  # an older query answering late is dropped
            self.show_hits(text, hits)

    def show_hits(self, text: str, hits: list[Hit]) -> None:
        # A conversation deleted a moment ago is still in the database until its Undo runs
        # out; the sidebar hides it already, and so does the search.
        pending = self.window_.pending_deletes
        hits = [hit for hit in hits if hit.conversation_id not in pending]
        self.results.clear()
        for hit in hits:
            item = QListWidgetItem(self.results)
            item.setData(HIT_ROLE, (hit.conversation_id, hit.message_id))
            label = QLabel(self._rich(hit), self.results)
            label.setObjectName("searchHit")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            height = label.heightForWidth(max(200, self.results.viewport().width() - 12))
            item.setSizeHint(QSize(0, max(height, label.sizeHint().height()) + 8))
            self.results.setItemWidget(item, label)
        if text and not hits:
            self.status.setText("No messages found")
        else:
            count = f"{len(hits)} message{'s' if len(hits) != 1 else ''}"
            self.status.setText(count if text else "")

    @staticmethod
    def _rich(hit: Hit) -> str:
        import html

        who = "You" if hit.role == "user" else "Hearth"
        return (
            f"<div><span style='font-weight:600'>{html.escape(hit.conversation_title)}</span>"
            f" <span style='color:#8a8f98'>· {who} · {hit.created_at[:10]}</span></div>"
            f"<div>{hit.snippet_html()}</div>"
        )

    def hit_widgets(self) -> list[QWidget]:
        return [self.results.itemWidget(self.results.item(i)) for i in range(self.results.count())]

    def _open_first(self) -> None:
        if self.results.count():
            self._open(self.results.item(0))

    def _open(self, item: QListWidgetItem) -> None:
        conversation_id, message_id = item.data(HIT_ROLE)
        self.hide()
        self.opened.emit(conversation_id, message_id)
