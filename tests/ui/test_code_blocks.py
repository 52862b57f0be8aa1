"""Code in answers: coloured by its language, with a "Copy code" link that copies the code."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication

ANSWER = (
    "Here:\n\n```python\ndef add(a, b):\n    return a + b  # sum\n```\n\nAnd:\n\n```\nls -l\n```\n"
)


def _colour_at(view, text: str):
    doc = view.document()
    cursor = doc.find(text)
    assert not cursor.isNull(), text
    return cursor.charFormat().foreground().color().name()


def test_code_is_highlighted_and_copied(qtbot):
    from app.ui.message_widget import AssistantMessage

    message = AssistantMessage()
    qtbot.addWidget(message)
    message.finish(1, ANSWER)
    view = message.view
    assert view.code_blocks == ["def add(a, b):\n    return a + b  # sum", "ls -l"]
    keyword, name, comment = (_colour_at(view, t) for t in ("def", "add", "# sum"))
    assert len({keyword, name, comment}) == 3 and "#000000" not in {keyword, name}
    assert view.document().toPlainText().count("Copy code") == 2
    view.anchorClicked.emit(QUrl("hearth-copy:0"))
    assert QGuiApplication.clipboard().text() == "def add(a, b):\n    return a + b  # sum"
    view.anchorClicked.emit(QUrl("hearth-copy:1"))
    assert QGuiApplication.clipboard().text() == "ls -l"
    assert message.text() == ANSWER  # the message itself is unchanged
