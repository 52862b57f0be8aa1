"""The Engines page: the local model and the user's own servers; add, remove, test, choose.

Adding a server is the user's consent, so the page says what would leave this computer before
the button is pressed. Testing a server (network, bounded by its timeouts) runs off the GUI
thread. `offer_fallback` is what the window shows when a server fails mid-reply: retry, or
answer with the local model, in one click.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import HearthError
from app.llm.base import LOCAL
from app.llm.servers import Servers, host_of
from app.ui.tasks import Tasks

log = logging.getLogger(__name__)


def engine_label(core: Any) -> str:
    """What the status bar says about the engine that answers."""
    answering = getattr(core, "answering", None)
    if answering is None or not answering.remote:
        return "Local model"
    mine = " with your adapter" if answering.plan is not None and answering.plan.applies else ""
    return f"Answers: {answering.describe()}{mine}"


class EnginesPage(QWidget):
    engine_changed = Signal(str)  # engine_label() of the engine that answers now

    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engines")
        self.core = core
        self.servers = Servers(core.store)
        self.tasks = Tasks(self, max_threads=1)

        intro = QLabel(
            "The local model runs on this computer. A server of your own (llama.cpp, Ollama, "
            "vLLM) can answer instead; conversations, memories and adapters stay here."
        )
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("engineList")
        self.use_button = QPushButton("Use")
        self.test_button = QPushButton("Test connection")
        self.remove_button = QPushButton("Remove")
        self.result = QLabel()
        self.result.setObjectName("engineResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        for button in (self.use_button, self.test_button, self.remove_button):
            actions.addWidget(button)
        actions.addStretch(1)

        self.name = QLineEdit(placeholderText="desktop")
        self.url = QLineEdit(placeholderText="http://192.168.1.20:8080")
        self.api_key = QLineEdit(placeholderText="optional")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.model = QLineEdit(placeholderText="the server's first model")
        self.same_base = QCheckBox("It runs the same model file as this computer")
        self.adapter_model = QLineEdit(placeholderText="optional: model name with your adapter")
        self.consent = QLabel()
        self.consent.setObjectName("engineConsent")
        self.consent.setWordWrap(True)
        self.add_button = QPushButton("Add server")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Address", self.url)
        form.addRow("API key", self.api_key)
        form.addRow("Model", self.model)
        form.addRow("", self.same_base)
        form.addRow("Adapter model", self.adapter_model)
        form.addRow(self.consent)
        form.addRow(self.add_button)
        box = QGroupBox("Add a server")
        box.setLayout(form)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(actions)
        layout.addWidget(self.result)
        layout.addWidget(box)

        self.use_button.clicked.connect(self.use_selected)
        self.test_button.clicked.connect(self.test_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.add_button.clicked.connect(self.add_server)
        self.url.textChanged.connect(self._update_consent)
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        self._update_consent()
        self.refresh()

    # -- the list ----------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        self.list.clear()
        records = self.servers.list()
        active = next((r.name for r in records if r.active), LOCAL)
        rows = [(LOCAL, "Local model — this computer")]
        rows += [
            (r.name, f"{r.name} — {r.url}" + (f" ({r.model})" if r.model else "")) for r in records
        ]
        for name, text in rows:
            item = QListWidgetItem(("● " if name == active else "   ") + text)
            item.setData(Qt.ItemDataRole.UserRole, name)
            if name == active:
                item.setToolTip("Answers now")
            self.list.addItem(item)
            if name == (select or active):
                self.list.setCurrentItem(item)
        self._update_buttons()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        name = self.selected_name()
        self.test_button.setEnabled(name not in (None, LOCAL))
        self.remove_button.setEnabled(name not in (None, LOCAL))
        self.use_button.setEnabled(name is not None)

    def _say(self, text: str, error: bool = False) -> None:
        self.result.setProperty("error", error)
        self.result.style().unpolish(self.result)  # the style sheet reads the property again
        self.result.style().polish(self.result)
        self.result.setText(text)

    def _update_consent(self) -> None:
        try:
            host = host_of(self.url.text().strip())
        except HearthError:
            host = "that server"
        self.consent.setText(
            f"While it answers, your prompts, recalled memories and preferences are sent to "
            f"{host}. Conversations, memories and adapters stay on this computer."
        )

    # -- actions -----------------------------------------------------------------------------
    def add_server(self) -> None:
        base = None
        if self.same_base.isChecked():
            base = self.core.models.active().sha256
        try:
            record = self.servers.add(
                self.name.text().strip(),
                self.url.text().strip(),
                api_key=self.api_key.text().strip() or None,
                model=self.model.text().strip() or None,
                base_sha256=base,
                options={"adapter_model": self.adapter_model.text().strip() or None},
            )
        except HearthError as exc:
            self._say(str(exc), error=True)
            return
        for field in (self.name, self.url, self.api_key, self.model, self.adapter_model):
            field.clear()
        self.same_base.setChecked(False)
        self.refresh(select=record.name)
        self._say(f"Added {record.name}. Test it, then choose Use to let it answer.")

    def remove_selected(self) -> None:
        name = self.selected_name()
        if name in (None, LOCAL) or self._busy():
            return
        was_active = self.servers.get(str(name)).active
        if was_active:
            self._choose(LOCAL)
        self.servers.remove(str(name))
        self.refresh()
        self._say(f"Removed {name} and its API key.")

    def use_selected(self) -> None:
        """Off the GUI thread: letting a server's name through the guard looks the name up."""
        from app.llm.remote_setup import choose

        name = self.selected_name()
        if name is None or self._busy():
            return
        self.use_button.setEnabled(False)
        self._say("Switching…")
        self.tasks.run(lambda: choose(self.core, name), self._used, self._use_failed)

    def _used(self, answering: Any) -> None:
        self._announce()
        self.refresh()
        plan = answering.plan
        extra = f" {plan.message}" if plan is not None and plan.message else ""
        self._say(f"{engine_label(self.core)}.{extra}")

    def _use_failed(self, exc: BaseException) -> None:
        self._update_buttons()
        self._say(str(exc) if isinstance(exc, HearthError) else f"Cannot switch: {exc}", True)

    def _choose(self, name: str) -> None:
        from app.llm.remote_setup import choose

        choose(self.core, name)
        self._announce()

    def _announce(self) -> None:
        label = engine_label(self.core)
        self.engine_changed.emit(label)
        status = getattr(self.parentWidget(), "status", None)
        if status is not None and hasattr(status, "set_engine"):
            status.set_engine(label)

    def _busy(self) -> bool:
        if getattr(self.parentWidget(), "generating", False):
            self._say("A reply is being written; stop it or wait for it first.", error=True)
            return True
        return False

    def test_selected(self) -> None:
        name = self.selected_name()
        if name in (None, LOCAL) or self._busy():
            return  # some servers stop a running reply to answer another request
        record = self.servers.get(str(name))
        self.test_button.setEnabled(False)
        self._say(f"Connecting to {record.url}…")

        def work() -> tuple[list[str], str]:
            from app.llm.remote_setup import check_server, personal_adapter, plan_adapter

            models = check_server(self.servers, record)
            plan = plan_adapter(record, personal_adapter(self.core.store), models)
            return models, plan.message

        self.tasks.run(work, self._tested, self._test_failed)

    def _tested(self, result: tuple[list[str], str]) -> None:
        models, adapter = result
        self._update_buttons()
        listing = ", ".join(models) if models else "none"
        self._say(f"Connected. Its models: {listing}." + (f"\n{adapter}" if adapter else ""))

    def _test_failed(self, exc: BaseException) -> None:
        self._update_buttons()
        self._say(str(exc) if isinstance(exc, HearthError) else f"Test failed: {exc}", error=True)

    def closeEvent(self, event: Any) -> None:
        self.tasks.shutdown()
        super().closeEvent(event)


def offer_fallback(window: Any, message: str) -> QMessageBox | None:
    """After a server failed a reply: retry, or switch to the local model and ask it, in one
    click. Does nothing when the local model was answering."""
    core = getattr(window.session, "core", None)
    answering = getattr(core, "answering", None)
    if core is None or answering is None or not answering.remote:
        return None
    from app.ui.message_widget import UserMessage

    # What the user asked, as the window shows it (a turn that failed before its first word
    # is not kept in the conversation).
    asked = [w for w in window.chat.message_widgets() if isinstance(w, UserMessage)]
    text = asked[-1].text() if asked else ""
    box = QMessageBox(window)
    box.setObjectName("engineFallback")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per failure, never piling up
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("The server did not answer")
    box.setText(f"{message}\n\nWhat arrived is kept in the conversation.")
    retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
    local = box.addButton("Use local model", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)

    def clicked(button: Any) -> None:
        if button is local:
            from app.llm.remote_setup import choose

            choose(core, LOCAL)
            status = getattr(window, "status", None)
            if status is not None and hasattr(status, "set_engine"):
                status.set_engine(engine_label(core))
        if button in (retry, local) and text and not window.generating:
            window.send(text)

    box.buttonClicked.connect(clicked)
    box.open()  # window-modal, never blocks the event loop
    return box
