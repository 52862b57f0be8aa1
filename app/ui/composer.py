"""The message box under the chat: Enter sends, Shift+Enter breaks the line, Esc stops a reply."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QToolButton, QVBoxLayout

from app.ui.theme import icon

MAX_LINES = 8


class InputBox(QPlainTextEdit):
    submitted = Signal()
    stop_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("input")
        self.setPlaceholderText("Message Hearth…")
        self.setAccessibleName("Message")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.document().documentLayout().documentSizeChanged.connect(lambda _s: self._grow())
        self._grow()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def _grow(self) -> None:
        line = self.fontMetrics().lineSpacing()
        lines = max(1, min(MAX_LINES, int(self.document().size().height())))
        self.setFixedHeight(lines * line + 14)


class Composer(QFrame):
    """The input box and one round button that is Send, or Stop while a reply streams."""

    send = Signal(str)
    stop = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("composerArea")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 8, 24, 10)
        self.box = QFrame(self)
        self.box.setObjectName("composer")
        self.box.setMaximumWidth(820)
        row = QHBoxLayout(self.box)
        row.setContentsMargins(14, 6, 8, 6)
        self.input = InputBox(self.box)
        self.button = QToolButton(self.box)
        self.button.setObjectName("sendButton")
        self.button.setIconSize(QSize(18, 18))
        self.button.setFixedSize(36, 36)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        row.addWidget(self.input, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        outer.addWidget(self.box, 0, Qt.AlignmentFlag.AlignHCenter)
        self.hint = QLabel("Enter to send · Shift+Enter for a new line · Esc to stop", self)
        self.hint.setObjectName("composerHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.hint)
        self.generating = False
        self.input.submitted.connect(self.submit)
        self.input.stop_requested.connect(self._stop)
        self.button.clicked.connect(self._clicked)
        self.set_generating(False)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.box.setFixedWidth(min(820, max(200, self.width() - 48)))

    def submit(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.generating:
            return
        self.input.clear()
        self.send.emit(text)

    def suggest(self, text: str) -> None:
        """Put a suggested prompt in the box for the user to edit or send."""
        self.input.setPlainText(text)
        self.input.moveCursor(QTextCursor.MoveOperation.End)
        self.input.setFocus()

    def _stop(self) -> None:
        if self.generating:
            self.stop.emit()

    def _clicked(self) -> None:
        if self.generating:
            self.stop.emit()
        else:
            self.submit()

    def set_generating(self, generating: bool) -> None:
        self.generating = generating
        self.button.setIcon(icon("stop" if generating else "send"))
        self.button.setToolTip("Stop (Esc)" if generating else "Send (Enter)")
        self.button.setAccessibleName("Stop" if generating else "Send")
        self.button.setProperty("stop", generating)
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)
