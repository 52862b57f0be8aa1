"""A read-only rich text view that is exactly as tall as its text (one per chat message).

Markdown is rendered by Qt's own importer once a reply is complete; while it streams, plain text
is appended. Code blocks get a tinted background so they read as code.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QTextBlockFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QSizePolicy, QTextBrowser

CODE_BACKGROUND = QColor("#f3f4f6")


class TextView(QTextBrowser):
    """Grows with its document; with `shrink`, also narrows to the text (chat bubbles)."""

    def __init__(self, parent=None, shrink: bool = False) -> None:
        super().__init__(parent)
        self._shrink = shrink
        self._max_width = 10_000
        self._fitting = False
        self.setObjectName("messageText")
        self.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setOpenLinks(False)
        self.setViewportMargins(0, 0, 0, 0)
        self.document().setDocumentMargin(0)
        self.setSizePolicy(
            QSizePolicy.Policy.Fixed if shrink else QSizePolicy.Policy.Expanding,
            QSizePolicy.Policy.Fixed,
        )
        self.document().documentLayout().documentSizeChanged.connect(lambda _s: self.fit())

    # -- content ---------------------------------------------------------------------------
    def append_text(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.fit()

    def set_markdown(self, text: str) -> None:
        self.document().setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
        _tint_code_blocks(self.document())
        self.fit()

    def set_plain(self, text: str) -> None:
        self.document().setPlainText(text)
        self.fit()

    def text(self) -> str:
        return self.document().toPlainText()

    # -- size ------------------------------------------------------------------------------
    def set_max_width(self, width: int) -> None:
        self._max_width = max(40, width)
        self.fit()

    def fit(self) -> None:
        if self._fitting:  # measuring changes the document's size, which calls fit again
            return
        self._fitting = True
        try:
            doc = self.document()
            if self._shrink:
                doc.setTextWidth(self._max_width)
                width = min(self._max_width, math.ceil(doc.idealWidth()) + 2)
                if width != self.width():
                    self.setFixedWidth(width)
                doc.setTextWidth(width)
            height = max(18, math.ceil(doc.size().height()) + 2)
            if height != self.height():
                self.setFixedHeight(height)
        finally:
            self._fitting = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def sizeHint(self) -> QSize:
        return QSize(self.width(), self.height())


def _is_code(block) -> bool:
    fmt = block.blockFormat()
    return fmt.nonBreakableLines() or fmt.hasProperty(QTextBlockFormat.Property.BlockCodeFence)


def _tint_code_blocks(doc: QTextDocument) -> None:
    """Space paragraphs for reading and give code blocks a tinted, padded background."""
    block = doc.begin()
    while block.isValid():
        fmt = block.blockFormat()
        cursor = QTextCursor(block)
        if _is_code(block):
            prev_code = block.previous().isValid() and _is_code(block.previous())
            next_code = block.next().isValid() and _is_code(block.next())
            fmt.setBackground(CODE_BACKGROUND)
            fmt.setLeftMargin(4)
            fmt.setTopMargin(0 if prev_code else 6)
            fmt.setBottomMargin(0 if next_code else 10)
        else:
            fmt.setLineHeight(135, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
            fmt.setBottomMargin(max(fmt.bottomMargin(), 8))
        cursor.setBlockFormat(fmt)
        block = block.next()
