"""What the selected adapter version learnt, in words (`app.adapters.describe`), with its figures
behind one click. Shown under the version table on the Personalization page."""

from __future__ import annotations

import html
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from app.adapters.describe import Story, describe

log = logging.getLogger(__name__)


def _quote(text: str, width: int = 220) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= width else text[: width - 1] + "…"
    return html.escape(text)


def story_html(story: Story) -> str:
    parts = [f"<b>{html.escape(story.title)}</b> — {html.escape(story.state)}"]
    parts.append("What it learnt: " + html.escape("; ".join(story.learnt)) + ".")
    parts.append(html.escape(story.basis))
    if story.strength:
        parts.append(html.escape(story.strength))
    if story.refusal:
        parts.append(f"<b>Why it is not in use:</b> {html.escape(story.refusal)}")
    for n, example in enumerate(story.examples, start=1):
        parts.append(
            f"<i>Example {n} (held back from training)</i> — you asked: “{_quote(example.prompt)}”"
            f"<br>Before: {_quote(example.before)}<br>After: {_quote(example.after)}"
        )
    return "<br><br>".join(parts)


def figures_html(story: Story) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>&nbsp;{html.escape(value)}</td></tr>"
        for label, value in story.figures
    )
    return f"<table>{rows}</table>" if rows else "No figures were measured."


class VersionStory(QWidget):
    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = core.adapters
        self.text = QLabel("Select a version to see what it learnt.")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures_button = QPushButton("Show figures")
        self.figures_button.setCheckable(True)
        self.figures_button.setVisible(False)
        self.figures = QLabel()
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.figures_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.figures)
        self.figures_button.toggled.connect(self._toggle)
        self.story: Story | None = None

    def show_version(self, version_id: int | None) -> None:
        if version_id is None:
            return
        try:
            self.story = describe(self.service, version_id)
        except Exception as exc:  # a damaged manifest must not break the page
            log.info("version %s: %s", version_id, exc)
            self.text.setText(html.escape(f"Version {version_id}: {exc}"))
            self.figures_button.setVisible(False)
            return
        self.text.setText(story_html(self.story))
        self.figures.setText(figures_html(self.story))
        self.figures_button.setVisible(True)
        self._toggle(self.figures_button.isChecked())

    def _toggle(self, shown: bool) -> None:
        self.figures.setVisible(shown)
        self.figures_button.setText("Hide figures" if shown else "Show figures")
