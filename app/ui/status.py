"""The status bar: which model, whether it is ready, which engine answers, how fast the last
reply came, and a running training or merge ("Learning: step 12 of 40…"), one click from its
page."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.setSizeGripEnabled(False)
        self.dot = QLabel("●", self)
        self.dot.setObjectName("stateDot")
        self.model = QLabel("Starting…", self)
        self.model.setObjectName("modelLabel")
        self.speed = QLabel("", self)
        self.speed.setObjectName("speedLabel")
        # Which engine answers: the local model, or a server of the user's own.
        self.engine = QLabel("", self)
        self.engine.setObjectName("engineLabel")
        self.addWidget(self.dot)
        self.addWidget(self.model, 1)
        # The privacy page one click away, always in view (the window connects it).
        self.privacy = QToolButton(self)
        self.privacy.setObjectName("privacyButton")
        self.privacy.setText("Privacy")
        self.privacy.setAutoRaise(True)
        self.privacy.setToolTip("What Hearth holds, where it is, and what left this computer")
        # A training or merge in the background (the window opens Personalization on a click).
        self.learning = QToolButton(self)
        self.learning.setObjectName("learningButton")
        self.learning.setAutoRaise(True)
        self.learning.setToolTip("Hearth is learning from your feedback; click for details")
        self.learning.hide()
        self.addPermanentWidget(self.learning)
        self.addPermanentWidget(self.engine)
        self.addPermanentWidget(self.speed)
        self.addPermanentWidget(self.privacy)
        self.state = "loading"

    def set_model_state(self, state: str, model_name: str, text: str) -> None:
        self.state = state
        self.dot.setProperty("state", state)
        self.dot.style().unpolish(self.dot)
        self.dot.style().polish(self.dot)
        if state == "ready" and model_name:
            self.model.setText(f"{model_name} — Ready")
        else:
            self.model.setText(text)
        self.model.setToolTip(self.model.text())

    def set_engine(self, text: str) -> None:
        self.engine.setText(text)
        self.engine.setToolTip("The engine that answers your messages")

    def set_speed(self, tok_s: float, live: bool = False) -> None:
        self.speed.setText(f"{tok_s:.1f} tok/s" + (" …" if live else "") if tok_s > 0 else "")

    def set_learning(self, text: str | None) -> None:
        """Show a running learning job's progress; None hides it."""
        if text:
            self.learning.setText(text)
            # The bar sizes a permanent widget once; a longer text would be cut in the middle.
            width = self.learning.fontMetrics().horizontalAdvance(text) + 16
            self.learning.setMinimumWidth(max(self.learning.minimumWidth(), width))
            self.learning.show()
        else:
            self.learning.setText("")
            self.learning.setMinimumWidth(0)
            self.learning.hide()
