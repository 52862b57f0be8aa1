"""One message in the chat: the user's bubble, or the assistant's answer with its footer.

An answer's footer carries copy, thumbs up/down and "edit answer", the generation figures, and a
"used N memories" line that expands to the recalled memories with links to where they came from.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.text_view import TextView
from app.ui.theme import icon

RENDER_EVERY_MS = 250


@dataclass(frozen=True)
class MemoryRef:
    """A memory as the window shows it (from a Recalled event or looked up by id)."""

    id: int
    text: str
    kind: str = "fact"
    source: str = ""
    conversation_id: int | None = None


def _tool(name: str, tip: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setIcon(icon(name))
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    button.setObjectName("footerButton")
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    button.setAutoRaise(True)
    return button


class Versions(QWidget):
    """ "‹ 1/2 ›": which version of a message is shown, and buttons to step through them."""

    step = Signal(int)  # -1 or +1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("versions")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.back = QToolButton(self)
        self.back.setText("‹")
        self.back.setAccessibleName("Previous version")
        self.label = QLabel(self)
        self.label.setObjectName("versionLabel")
        self.forward = QToolButton(self)
        self.forward.setText("›")
        self.forward.setAccessibleName("Next version")
        for button in (self.back, self.forward):
            button.setObjectName("versionButton")
            button.setAutoRaise(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.back.clicked.connect(lambda: self.step.emit(-1))
        self.forward.clicked.connect(lambda: self.step.emit(1))
        row.addWidget(self.back)
        row.addWidget(self.label)
        row.addWidget(self.forward)
        self.hide()

    def set_versions(self, index: int, count: int) -> None:
        """`index` counts from 1; fewer than two versions hides the switcher."""
        self.label.setText(f"{index}/{count}")
        self.back.setEnabled(index > 1)
        self.forward.setEnabled(index < count)
        self.setVisible(count > 1)


class UserMessage(QWidget):
    """Right-aligned bubble, as narrow as its text allows, with copy, edit and versions."""

    copied = Signal()
    resend = Signal(int, str)  # user message id, the edited text
    version_step = Signal(int, int)  # user message id, -1 / +1

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userRow")
        self.message_id: int | None = None
        self._text = text
        self.editor: QWidget | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 6, 0, 2)
        outer.setSpacing(2)
        row = QHBoxLayout()
        row.addStretch(1)
        self.bubble = QFrame(self)
        self.bubble.setObjectName("userBubble")
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(14, 9, 14, 9)
        self.view = TextView(self.bubble, shrink=True)
        self.view.set_plain(text)
        inner.addWidget(self.view)
        row.addWidget(self.bubble)
        outer.addLayout(row)
        actions = QHBoxLayout()
        actions.setSpacing(2)
        actions.addStretch(1)
        self.versions = Versions(self)
        self.versions.step.connect(self._step)
        self.copy_button = _tool("copy", "Copy", self)
        self.copy_button.clicked.connect(self.copy)
        self.edit_button = _tool("edit", "Edit and resend", self)
        self.edit_button.clicked.connect(self.start_edit)
        self.edit_button.setEnabled(False)  # until the message is stored
        for widget in (self.versions, self.copy_button, self.edit_button):
            actions.addWidget(widget)
        outer.addLayout(actions)

    def text(self) -> str:
        return self._text

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id
        self.edit_button.setEnabled(True)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.copied.emit()

    def _step(self, step: int) -> None:
        if self.message_id is not None:
            self.version_step.emit(self.message_id, step)

    def start_edit(self) -> None:
        if self.message_id is None or self.editor is not None:
            return
        self.editor = QFrame(self)
        self.editor.setObjectName("questionEditor")
        box = QVBoxLayout(self.editor)
        box.setContentsMargins(0, 0, 0, 0)
        self.edit_box = QPlainTextEdit(self.editor)
        self.edit_box.setPlainText(self._text)
        self.edit_box.setMinimumHeight(80)
        box.addWidget(self.edit_box)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        cancel = QPushButton("Cancel", self.editor)
        send = QPushButton("Send", self.editor)
        send.setObjectName("primaryButton")
        cancel.clicked.connect(self.end_edit)
        send.clicked.connect(self.send_edit)
        buttons.addWidget(cancel)
        buttons.addWidget(send)
        box.addLayout(buttons)
        self.layout().insertWidget(1, self.editor)
        self.bubble.hide()
        self.edit_box.setFocus()

    def send_edit(self) -> None:
        if self.editor is None or self.message_id is None:
            return
        text = self.edit_box.toPlainText().strip()
        message_id = self.message_id
        self.end_edit()
        if text:
            self.resend.emit(message_id, text)

    def end_edit(self) -> None:
        if self.editor is not None:
            self.editor.deleteLater()
            self.editor = None
        self.bubble.show()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.view.set_max_width(int(self.width() * 0.78) - 28)


class AssistantMessage(QFrame):
    """An answer: streams in as plain text, then renders as markdown with its footer."""

    rated = Signal(int, int)  # assistant message id, +1 / -1
    edited = Signal(int, str)  # assistant message id, the user's rewrite
    link_clicked = Signal(str)
    regenerate = Signal(int)  # assistant message id
    version_step = Signal(int, int)  # assistant message id, -1 / +1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assistantMessage")
        self.message_id: int | None = None
        self.rating = 0
        self._markdown = ""
        self.memories: list[MemoryRef] = []
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 8, 0, 8)
        outer.setSpacing(12)
        avatar = QLabel(self)
        avatar.setObjectName("avatar")
        avatar.setPixmap(icon("hearth").pixmap(20, 20))
        avatar.setFixedSize(32, 32)
        avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(avatar, 0, Qt.AlignmentFlag.AlignTop)
        self.column = QVBoxLayout()
        self.column.setSpacing(4)
        outer.addLayout(self.column, 1)

        self.status = QLabel(self)
        self.status.setObjectName("answerStatus")
        self.status.hide()
        self.column.addWidget(self.status)
        self.view = TextView(self)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_EVERY_MS)
        self._render_timer.timeout.connect(self._render_partial)
        self._pending = ""  # streamed text not shown yet
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(30)
        self._flush_timer.timeout.connect(self._flush)
        self.view.anchorClicked.connect(lambda url: self.link_clicked.emit(url.toString()))
        self.column.addWidget(self.view)
        self.editor: QWidget | None = None

        self.memory_toggle = QPushButton(self)
        self.memory_toggle.setObjectName("memoryToggle")
        self.memory_toggle.setIcon(icon("memory"))
        self.memory_toggle.setCheckable(True)
        self.memory_toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.memory_toggle.toggled.connect(self._show_memories)
        self.memory_toggle.hide()
        self.memory_list = QLabel(self)
        self.memory_list.setObjectName("memoryList")
        self.memory_list.setWordWrap(True)
        self.memory_list.setTextFormat(Qt.TextFormat.RichText)
        self.memory_list.linkActivated.connect(self.link_clicked.emit)
        self.memory_list.hide()
        self.column.addWidget(self.memory_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.column.addWidget(self.memory_list)
        self.footer = self._build_footer()
        self.column.addWidget(self.footer)
        self.footer.hide()

    def _build_footer(self) -> QWidget:
        footer = QWidget(self)
        row = QHBoxLayout(footer)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.copy_button = _tool("copy", "Copy", footer)
        self.up_button = _tool("thumb-up", "Good answer", footer)
        self.down_button = _tool("thumb-down", "Bad answer", footer)
        self.edit_button = _tool("edit", "Edit answer (teaches Hearth your preference)", footer)
        self.regenerate_button = _tool("regenerate", "Regenerate", footer)
        self.regenerate_button.clicked.connect(self._regenerate)
        self.versions = Versions(footer)
        self.versions.step.connect(self._step)
        row.addWidget(self.versions)
        self.copy_button.clicked.connect(self.copy)
        self.up_button.clicked.connect(lambda: self._rate(1))
        self.down_button.clicked.connect(lambda: self._rate(-1))
        self.edit_button.clicked.connect(self.start_edit)
        for button in (
            self.copy_button,
            self.regenerate_button,
            self.up_button,
            self.down_button,
            self.edit_button,
        ):
            row.addWidget(button)
        self.figures = QLabel(footer)
        self.figures.setObjectName("figures")
        row.addSpacing(8)
        row.addWidget(self.figures)
        row.addStretch(1)
        return footer

    # -- streaming -------------------------------------------------------------------------
    def set_waiting(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def append(self, chunk: str) -> None:
        """Show streamed text within a frame (chunks are gathered for up to 30 ms, so the GUI
        thread does one update per frame, not one per token); the markdown render follows at
        most a few times a second."""
        if not self._markdown:
            self.set_waiting("")
        self._markdown += chunk
        self._pending += chunk
        if not self._flush_timer.isActive():
            self._flush_timer.start()
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _flush(self) -> None:
        if self._pending:
            self.view.append_text(self._pending)
            self._pending = ""

    def _render_partial(self) -> None:
        if self.message_id is None:
            self._pending = ""
            # No syntax colours while streaming: the full render at the end adds them.
            self.view.set_markdown(self._markdown, highlight=False)

    def finish(self, message_id: int | None, text: str | None = None, figures: str = "") -> None:
        self.set_waiting("")
        self._render_timer.stop()
        self._flush_timer.stop()
        self._pending = ""
        self.message_id = message_id
        if text is not None:
            self._markdown = text
        self.view.set_markdown(self._markdown)
        self.figures.setText(figures)
        self.footer.setVisible(message_id is not None)

    def show_error(self, message: str) -> None:
        self.status.setText(message)
        self.status.setProperty("error", True)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.status.show()

    def text(self) -> str:
        return self._markdown

    # -- memories --------------------------------------------------------------------------
    def set_memories(self, memories: list[MemoryRef]) -> None:
        self.memories = list(memories)
        n = len(self.memories)
        self.memory_toggle.setText(f"used {n} memor{'y' if n == 1 else 'ies'}")
        self.memory_toggle.setVisible(n > 0)
        items = []
        for mem in self.memories:
            where = html.escape(mem.source or mem.kind)
            if mem.conversation_id is not None:
                where = f'<a href="hearth://conversation/{mem.conversation_id}">{where}</a>'
            items.append(
                f"<p style='margin:3px 0'>• {html.escape(mem.text)} "
                f"<span style='color:#8a8f98'>· {where}</span></p>"
            )
        self.memory_list.setText("".join(items))
        self._show_memories(self.memory_toggle.isChecked())

    def _show_memories(self, shown: bool) -> None:
        self.memory_list.setVisible(shown and bool(self.memories))
        self.memory_toggle.setIcon(icon("chevron-down" if shown else "memory"))

    # -- feedback --------------------------------------------------------------------------
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._markdown)

    def _regenerate(self) -> None:
        if self.message_id is not None:
            self.regenerate.emit(self.message_id)

    def _step(self, step: int) -> None:
        if self.message_id is not None:
            self.version_step.emit(self.message_id, step)

    def _rate(self, rating: int) -> None:
        if self.message_id is None or rating == self.rating:
            return  # the same thumb twice is one opinion, not two examples
        self.set_rating(rating)
        self.rated.emit(self.message_id, rating)

    def set_rating(self, rating: int) -> None:
        self.rating = rating
        self.up_button.setIcon(icon("thumb-up-on" if rating > 0 else "thumb-up"))
        self.down_button.setIcon(icon("thumb-down-on" if rating < 0 else "thumb-down"))

    def start_edit(self) -> None:
        if self.message_id is None or self.editor is not None:
            return
        self.editor = QFrame(self)
        self.editor.setObjectName("answerEditor")
        box = QVBoxLayout(self.editor)
        box.setContentsMargins(0, 0, 0, 0)
        self.edit_box = QPlainTextEdit(self.editor)
        self.edit_box.setPlainText(self._markdown)
        self.edit_box.setMinimumHeight(120)
        box.addWidget(self.edit_box)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        cancel = QPushButton("Cancel", self.editor)
        save = QPushButton("Save answer", self.editor)
        save.setObjectName("primaryButton")
        cancel.clicked.connect(self.end_edit)
        save.clicked.connect(self.save_edit)
        buttons.addWidget(cancel)
        buttons.addWidget(save)
        box.addLayout(buttons)
        self.column.insertWidget(self.column.indexOf(self.view) + 1, self.editor)
        self.view.hide()
        self.edit_box.setFocus()

    def save_edit(self) -> None:
        if self.editor is None or self.message_id is None:
            return
        new_text = self.edit_box.toPlainText().strip()
        if new_text and new_text != self._markdown.strip():
            self._markdown = new_text
            self.view.set_markdown(new_text)
            self.edited.emit(self.message_id, new_text)
        self.end_edit()

    def end_edit(self) -> None:
        if self.editor is not None:
            self.editor.deleteLater()
            self.editor = None
        self.view.show()
