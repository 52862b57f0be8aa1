"""The conversation column: messages in a scroll area, a welcome screen when it is empty.

It only arranges message widgets; the main window decides what they show. The column keeps a
readable width on wide windows and follows new text while the user is at the bottom.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.ui.message_widget import AssistantMessage, MemoryRef, UserMessage
from app.ui.theme import icon

COLUMN_WIDTH = 820


SUGGESTIONS = [
    "Explain how a heat pump works",
    "Draft a friendly reminder email",
    "Give me three ideas for dinner",
    "Write a Python function to sort a list",
]


class _Welcome(QWidget):
    suggested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        box = QVBoxLayout(self)
        box.addStretch(2)
        logo = QLabel(self)
        logo.setPixmap(icon("hearth").pixmap(56, 56))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("How can I help?", self)
        title.setObjectName("welcomeTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub = QLabel("Hearth runs entirely on this computer. Nothing you write leaves it.", self)
        sub.setObjectName("welcomeText")
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setWordWrap(True)
        for widget in (logo, title, sub):
            box.addWidget(widget)
        box.addSpacing(18)
        grid = QGridLayout()
        grid.setSpacing(10)
        for i, text in enumerate(SUGGESTIONS):
            chip = QPushButton(text, self)
            chip.setObjectName("suggestion")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _c=False, t=text: self.suggested.emit(t))
            grid.addWidget(chip, i // 2, i % 2)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(grid)
        row.addStretch(1)
        box.addLayout(row)
        box.addStretch(3)


class ChatView(QScrollArea):
    """Holds the messages of one conversation."""

    rated = Signal(int, int)
    edited = Signal(int, str)
    link_clicked = Signal(str)
    suggested = Signal(str)
    earlier_requested = Signal()  # the user wants the older messages not shown yet
    regenerate = Signal(int)  # assistant message id
    resend = Signal(int, str)  # user message id, edited text
    version_step = Signal(int, int)  # message id, -1 / +1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        canvas = QWidget(self)
        canvas.setObjectName("chatCanvas")
        outer = QVBoxLayout(canvas)
        outer.setContentsMargins(24, 16, 24, 16)
        self.column = QWidget(canvas)
        self.column.setObjectName("chatColumn")
        self.column.setMaximumWidth(COLUMN_WIDTH)
        self.messages = QVBoxLayout(self.column)
        self.messages.setContentsMargins(0, 0, 0, 0)
        self.messages.setSpacing(6)
        self.messages.addStretch(1)
        outer.addWidget(self.column, 1, Qt.AlignmentFlag.AlignHCenter)
        self.welcome = _Welcome(canvas)
        self.welcome.suggested.connect(self.suggested)
        outer.addWidget(self.welcome, 100)
        self.setWidget(canvas)
        # Above the first message the model still sees, once older ones no longer fit.
        self.divider = QLabel("Older messages are beyond what the model can see", self.column)
        self.divider.setObjectName("contextDivider")
        self.divider.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.divider.hide()
        # Long conversations open on their newest messages; older ones come on request.
        self.earlier = QPushButton("Show earlier messages", self.column)
        self.earlier.setObjectName("earlierButton")
        self.earlier.setCursor(Qt.CursorShape.PointingHandCursor)
        self.earlier.clicked.connect(self.earlier_requested)
        self.earlier.hide()
        self.messages.insertWidget(0, self.earlier)
        self._keep_from_bottom: int | None = None
        self._by_id: dict[int, QWidget] = {}
        self.context_start: int | None = None
        self.found: QWidget | None = None  # the message a search opened
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._track)
        bar.rangeChanged.connect(self._stick)
        self._refresh_welcome()

    # -- content ---------------------------------------------------------------------------
    def clear(self) -> None:
        self.messages.removeWidget(self.divider)
        self.divider.hide()
        self.earlier.hide()
        while self.messages.count() > 2:  # the "earlier" button and the closing stretch stay
            item = self.messages.takeAt(1)
            widget = item.widget()
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self._by_id.clear()
        self.context_start = None
        self._follow = True
        self._refresh_welcome()

    def add_user(
        self, text: str, message_id: int | None = None, at_top: bool = False
    ) -> UserMessage:
        widget = UserMessage(text, self.column)
        widget.resend.connect(self.resend)
        widget.version_step.connect(self.version_step)
        self._insert(widget, at_top)
        if message_id is not None:
            self.set_message_id(widget, message_id)
        return widget

    def set_message_id(self, widget: QWidget, message_id: int) -> None:
        self._by_id[message_id] = widget
        if isinstance(widget, UserMessage):
            widget.set_message_id(message_id)
        if message_id == self.context_start:
            self._place_divider()

    def mark_context_start(self, message_id: int | None) -> None:
        """Show where the model's context starts (None: it holds the whole conversation)."""
        self.context_start = message_id
        self._place_divider()

    def show_message(self, message_id: int) -> None:
        """Scroll to a message and mark it for a moment (a search hit opened)."""
        widget = self._by_id.get(message_id)
        if widget is None:
            return
        self._follow = False
        # Lay out what was just added first, or the message's position is not known yet.
        self.column.layout().activate()
        self.widget().layout().activate()
        self.ensureWidgetVisible(widget, 0, 80)
        QTimer.singleShot(50, widget, lambda: self.ensureWidgetVisible(widget, 0, 80))
        self.found = widget
        widget.setProperty("found", True)
        widget.style().unpolish(widget)
        widget.style().polish(widget)

        def unmark() -> None:
            if self._by_id.get(message_id) is widget:
                widget.setProperty("found", False)
                widget.style().unpolish(widget)
                widget.style().polish(widget)

        QTimer.singleShot(2500, widget, unmark)  # tied to the widget: never runs after it goes

    def widget_for(self, message_id: int) -> QWidget | None:
        return self._by_id.get(message_id)

    def set_versions(self, branches: dict[int, list[int]]) -> None:
        """Show "‹ i/n ›" on each message that has other versions."""
        for message_id, widget in self._by_id.items():
            versions = branches.get(message_id, [message_id])
            switcher = getattr(widget, "versions", None)
            if switcher is not None and message_id in versions:
                switcher.set_versions(versions.index(message_id) + 1, len(versions))

    def remove_from(self, widget: QWidget) -> None:
        """Take this message and every one after it out of the view (edit, regenerate)."""
        widgets = self.message_widgets()
        if widget not in widgets:
            return
        for gone in widgets[widgets.index(widget) :]:
            self.messages.removeWidget(gone)
            gone.hide()
            gone.deleteLater()
        self._by_id = {k: w for k, w in self._by_id.items() if w in self.message_widgets()}
        self._place_divider()
        self._refresh_welcome()

    def _place_divider(self) -> None:
        self.messages.removeWidget(self.divider)
        widget = self._by_id.get(self.context_start) if self.context_start else None
        if widget is None:
            self.divider.hide()
            return
        self.messages.insertWidget(self.messages.indexOf(widget), self.divider)
        self.divider.show()

    def add_assistant(self, at_top: bool = False) -> AssistantMessage:
        widget = AssistantMessage(self.column)
        widget.rated.connect(self.rated)
        widget.edited.connect(self.edited)
        widget.link_clicked.connect(self.link_clicked)
        widget.regenerate.connect(self.regenerate)
        widget.version_step.connect(self.version_step)
        self._insert(widget, at_top)
        return widget

    def add_stored_answer(
        self,
        message_id: int,
        text: str,
        figures: str,
        memories: list[MemoryRef],
        rating: int,
        at_top: bool = False,
    ) -> AssistantMessage:
        widget = self.add_assistant(at_top)
        self.set_message_id(widget, message_id)
        widget.finish(message_id, text, figures)
        widget.set_memories(memories)
        widget.set_rating(rating)
        return widget

    def message_widgets(self) -> list[QWidget]:
        items = (self.messages.itemAt(i) for i in range(self.messages.count()))
        widgets = [item.widget() for item in items if item.widget() is not None]
        return [w for w in widgets if w is not self.divider and w is not self.earlier]

    def set_earlier(self, count: int) -> None:
        """Offer the `count` older messages not shown yet (0 hides the offer)."""
        self.earlier.setText(f"Show {count} earlier message{'s' if count != 1 else ''}")
        self.earlier.setVisible(count > 0)

    def answers(self) -> list[AssistantMessage]:
        return [w for w in self.message_widgets() if isinstance(w, AssistantMessage)]

    def _insert(self, widget: QWidget, at_top: bool = False) -> None:
        if at_top:
            # Older messages go above the first one; the view stays where the user reads.
            bar = self.verticalScrollBar()
            if self._keep_from_bottom is None:
                self._keep_from_bottom = bar.maximum() - bar.value()
            first = self.messages.indexOf(self.earlier) + 1
            self.messages.insertWidget(first, widget)
            self._refresh_welcome()
            return
        self.messages.insertWidget(self.messages.count() - 1, widget)
        self._follow = True
        self._refresh_welcome()
        QTimer.singleShot(0, self.scroll_to_end)

    def _refresh_welcome(self) -> None:
        empty = not self.message_widgets()
        self.welcome.setVisible(empty)
        self.column.setVisible(not empty)

    # -- scrolling -------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.column.setFixedWidth(min(COLUMN_WIDTH, max(200, self.viewport().width() - 48)))

    def scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _track(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24
        if value == 0 and bar.maximum() > 0 and self.earlier.isVisible():
            self.earlier_requested.emit()  # scrolled to the top: bring the older messages

    def _stick(self, _lo: int, hi: int) -> None:
        if self._keep_from_bottom is not None:
            self.verticalScrollBar().setValue(hi - self._keep_from_bottom)
            self._keep_from_bottom = None
        elif self._follow:
            self.verticalScrollBar().setValue(hi)
