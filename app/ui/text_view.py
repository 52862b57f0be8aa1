"""A read-only rich text view that is exactly as tall as its text (one per chat message).

Markdown is rendered by Qt's own importer once a reply is complete; while it streams, plain text
is appended. Code blocks get a tinted background, syntax colours (Pygments, by the fence's
language or a guess) and a "Copy code" link above them.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QTextBrowser

CODE_BACKGROUND = {"light": QColor("#f3f4f6"), "dark": QColor("#26282d")}
COPY_SCHEME = "hearth-copy"
# Token colours (One Light / One Dark), by Pygments token type, most specific first.
PALETTE = {
    "light": {
        "Comment": "#a0a1a7",
        "Keyword": "#a626a4",
        "Name.Function": "#4078f2",
        "Name.Class": "#c18401",
        "Name.Builtin": "#0184bc",
        "Name.Decorator": "#c18401",
        "Literal.String": "#50a14f",
        "Literal.Number": "#986801",
        "Operator": "#0184bc",
    },
    "dark": {
        "Comment": "#7f848e",
        "Keyword": "#c678dd",
        "Name.Function": "#61afef",
        "Name.Class": "#e5c07b",
        "Name.Builtin": "#56b6c2",
        "Name.Decorator": "#e5c07b",
        "Literal.String": "#98c379",
        "Literal.Number": "#d19a66",
        "Operator": "#56b6c2",
    },
}


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
        self.code_blocks: list[str] = []  # the text of each code block, for "Copy code"
        self.anchorClicked.connect(self._anchor)

    # -- content ---------------------------------------------------------------------------
    def append_text(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.fit()

    def set_markdown(self, text: str, highlight: bool = True) -> None:
        doc = self.document()
        doc.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
        theme = _theme()
        self.code_blocks = _highlight_code(doc, theme) if highlight else []
        _tint_code_blocks(doc, theme)
        self.fit()

    def _anchor(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME and url.path().isdigit():
            index = int(url.path())
            if index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])

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


def _theme() -> str:
    app = QApplication.instance()
    return "dark" if app is not None and app.property("hearthTheme") == "dark" else "light"


def _code_runs(doc: QTextDocument) -> list[list]:
    """Consecutive code blocks, one list per fenced or indented block of code."""
    runs: list[list] = []
    block = doc.begin()
    while block.isValid():
        if _is_code(block):
            if runs and runs[-1][-1] == block.previous() and _is_code(block.previous()):
                runs[-1].append(block)
            else:
                runs.append([block])
        block = block.next()
    return runs


def _highlight_code(doc: QTextDocument, theme: str) -> list[str]:
    """Colour each code block by its language and put a "Copy code" link above it; returns
    the blocks' text."""
    runs = _code_runs(doc)
    texts = ["\n".join(b.text() for b in run) for run in runs]
    for index in range(len(runs) - 1, -1, -1):  # from the end: inserting moves what follows
        run = runs[index]
        language = run[0].blockFormat().stringProperty(QTextFormat.Property.BlockCodeLanguage)
        _colour(doc, run[0].position(), texts[index], language, PALETTE[theme])
        _copy_link(run[0], index)
    return texts


def _colour(doc: QTextDocument, start: int, code: str, language: str, palette: dict) -> None:
    try:
        from pygments.lexers import get_lexer_by_name, guess_lexer
        from pygments.util import ClassNotFound
    except ImportError:  # plain code blocks are still readable
        return
    try:
        lexer = get_lexer_by_name(language) if language else guess_lexer(code)
    except ClassNotFound:
        return
    cursor = QTextCursor(doc)
    offset = 0
    for token, value in lexer.get_tokens(code):
        colour = _token_colour(str(token), palette)
        if colour and value.strip():
            cursor.setPosition(start + offset)
            cursor.setPosition(start + offset + len(value), QTextCursor.MoveMode.KeepAnchor)
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(colour))
            if colour == palette["Comment"]:
                fmt.setFontItalic(True)
            cursor.mergeCharFormat(fmt)
        offset += len(value)
        if offset >= len(code):
            break


def _token_colour(token: str, palette: dict) -> str | None:
    name = token.removeprefix("Token.")
    while name:
        if name in palette:
            return str(palette[name])
        name = name.rpartition(".")[0]
    return None


def _copy_link(first, index: int) -> None:
    """A small "Copy code" link in its own paragraph just above the code block."""
    cursor = QTextCursor(first)
    cursor.insertBlock(first.blockFormat(), first.charFormat())
    cursor.movePosition(QTextCursor.MoveOperation.PreviousBlock)
    cursor.setBlockFormat(QTextBlockFormat())
    fmt = QTextCharFormat()
    fmt.setAnchor(True)
    fmt.setAnchorHref(f"{COPY_SCHEME}:{index}")
    fmt.setForeground(QColor("#8a8f98"))
    fmt.setFontPointSize(max(7.0, QFont().pointSizeF() - 1))
    cursor.insertText("Copy code", fmt)


def _tint_code_blocks(doc: QTextDocument, theme: str = "light") -> None:
    """Space paragraphs for reading and give code blocks a tinted, padded background."""
    block = doc.begin()
    while block.isValid():
        fmt = block.blockFormat()
        cursor = QTextCursor(block)
        if _is_code(block):
            prev_code = block.previous().isValid() and _is_code(block.previous())
            next_code = block.next().isValid() and _is_code(block.next())
            fmt.setBackground(CODE_BACKGROUND[theme])
            fmt.setLeftMargin(4)
            fmt.setTopMargin(0 if prev_code else 6)
            fmt.setBottomMargin(0 if next_code else 10)
        else:
            fmt.setLineHeight(135, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
            fmt.setBottomMargin(max(fmt.bottomMargin(), 8))
        cursor.setBlockFormat(fmt)
        block = block.next()
