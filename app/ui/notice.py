"""A slim notice above the input: "Remembered: …" with Undo, or any short message.

Memory tells the window what it stored from a background thread; `MemoryNotices` carries that to
the GUI thread by signal, and the notice offers to undo it. The core's learning jobs (training,
merging) report the same way (`JobEvents`): `LearningNotices` keeps the status bar on a running
job and says how it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget
from shiboken6 import isValid

from app.ui.theme import icon

VERBS = {"added": "Remembered", "merged": "Updated a memory", "replaced": "Replaced a memory"}


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 6, 6)
        self.icon = QLabel(self)
        self.icon.setPixmap(icon("memory").pixmap(16, 16))
        self.text = QLabel(self)
        self.text.setObjectName("noticeText")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setObjectName("noticeUndo")
        self.undo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        close = QToolButton(self)
        close.setText("✕")
        close.setObjectName("noticeClose")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        row.addWidget(self.icon)
        row.addWidget(self.text, 1)
        row.addWidget(self.undo_button)
        row.addWidget(close)
        self._undo: Callable[[], None] | None = None
        self.undo_button.clicked.connect(self._undo_clicked)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(
        self,
        text: str,
        undo: Callable[[], None] | None = None,
        seconds: int = 12,
        icon_name: str = "memory",
    ) -> None:
        self.icon.setPixmap(icon(icon_name).pixmap(16, 16))
        self.text.setText(text)
        self._undo = undo
        self.undo_button.setVisible(undo is not None)
        self.show()
        self._timer.start(seconds * 1000)

    def show_changes(self, changes: list[Any], undo: Callable[[list[Any]], None]) -> None:
        shown = [c for c in changes if getattr(c, "action", "") in VERBS]
        if not shown:
            return
        first = shown[0]
        text = f"{VERBS[first.action]}: “{first.text}”"
        if len(shown) > 1:
            text += f" and {len(shown) - 1} more"
        self.show_message(text, lambda: undo(shown))

    def _undo_clicked(self) -> None:
        action, self._undo = self._undo, None
        self.hide()
        if action is not None:
            action()


class MemoryNotices(QObject):
    """Shows what memory stored after an exchange, with Undo.

    Memory calls `listener` on its own thread; the `changed` signal carries the changes to the
    GUI thread, where the notice is shown and an Undo runs the undo on the task pool.
    """

    changed = Signal(list)

    def __init__(self, bar: NoticeBar, tasks: Any, say: Callable[[str, int], None]) -> None:
        super().__init__(bar)
        self.bar = bar
        self.tasks = tasks
        self.say = say
        self.memory: Any = None
        self.changed.connect(self._show)

    def attach(self, core: Any) -> None:
        memory = getattr(core.assistant, "memory", None)
        if memory is not None and hasattr(memory, "add_listener"):
            self.memory = memory
            memory.add_listener(self.listener)

    def listener(self, changes: list[Any]) -> None:
        self.changed.emit(list(changes))  # queued to the GUI thread

    def _show(self, changes: list[Any]) -> None:
        memory = self.memory
        if memory is None:
            return

        def undo(shown: list[Any]) -> None:
            def work() -> None:
                for change in shown:
                    memory.undo(change)

            self.tasks.run(work, lambda _r: self.say("Memory undone", 3000))

        self.bar.show_changes(changes, undo)


class JobEvents(QObject):
    """The core's learning job events (`app.adapters.jobs`), carried to the GUI thread.

    The core calls its listeners on the job's thread; `changed` is queued to this object's
    thread. Once this object is deleted its listener removes itself at the next event.
    """

    changed = Signal(object)

    def __init__(self, jobs: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._relay = _Relay(self, jobs)
        jobs.add_listener(self._relay)

    def detach(self) -> None:
        self.jobs.remove_listener(self._relay)


class _Relay:
    """A plain listener for the core: it holds no Qt connection of its own, so a deleted
    receiver is only ever checked (shiboken6.isValid), never called."""

    def __init__(self, owner: JobEvents, jobs: Any) -> None:
        self.owner = owner
        self.jobs = jobs

    def __call__(self, job: Any) -> None:
        if not isValid(self.owner):
            self.jobs.remove_listener(self)
            return
        self.owner.changed.emit(job)


class LearningNotices(QObject):
    """The window's view of learning: the status bar while a job runs, a notice when it ends."""

    def __init__(self, bar: NoticeBar, status: Any) -> None:
        super().__init__(bar)
        self.bar = bar
        self.status = status
        self.events: JobEvents | None = None

    def attach(self, core: Any) -> None:
        jobs = core.learning
        self.events = JobEvents(jobs, self)
        self.events.changed.connect(self.show)
        job = jobs.last
        if job is not None and job.running:
            self.show(job)

    def show(self, job: Any) -> None:
        if job.running:
            self.status.set_learning(job.status_text())
            return
        self.status.set_learning(None)
        self.bar.show_message(job.end_text(), seconds=20, icon_name="hearth")
