"""Settings (Ctrl+,): the model, how answers are made, memory, the theme and learning.

Saving checks every value (a refused one says why and nothing changes), writes the file and
puts the changes into effect at once: the next answer uses them; a new context size, thread
count or GPU layer count loads the model again in the background.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.settings.fields import FIELDS, THEMES, SettingError
from app.settings.live import apply_to_core
from app.settings.model_choices import ModelChoice, choices, remove

MODEL_COLUMNS = ["", "Model", "Architecture", "Quantization", "Context", "Size"]


def _double(low: float, high: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box


def _int(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


class SettingsDialog(QDialog):
    saved = Signal(list)  # the names of the settings that changed

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.resize(720, 700)
        outer = QVBoxLayout(self)
        outer.addWidget(self._model_group())
        form_box = QGroupBox("Answers", self)
        form = QFormLayout(form_box)
        self.inputs: dict[str, QWidget] = {
            "system_prompt": QPlainTextEdit(),
            "temperature": _double(0.0, 2.0, 0.05),
            "top_p": _double(0.01, 1.0, 0.05),
            "top_k": _int(0, 1000),
            "repeat_penalty": _double(1.0, 2.0, 0.05),
            "max_tokens": _int(16, 32768, 64),
            "context_tokens": _int(512, 131072, 512),
            "threads": _int(0, os.cpu_count() or 1),
            "gpu_layers": _int(0, 999),
            "memory_enabled": QCheckBox("Remember what I tell Hearth and recall it in answers"),
            "theme": QComboBox(),
        }
        prompt = self.inputs["system_prompt"]
        assert isinstance(prompt, QPlainTextEdit)
        prompt.setFixedHeight(80)
        theme = self.inputs["theme"]
        assert isinstance(theme, QComboBox)
        theme.addItems(list(THEMES))
        for name, widget in self.inputs.items():
            widget.setObjectName(f"setting_{name}")
            label = FIELDS[name].label + (
                " (reloads the model)" if FIELDS[name].reloads_model else ""
            )
            form.addRow(label, widget)
        outer.addWidget(form_box, 1)
        outer.addWidget(self._learning_group())
        self.error = QLabel("", self)
        self.error.setObjectName("settingsError")
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        cancel = QPushButton("Cancel", self)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primaryButton")
        self.save_button.setDefault(True)
        cancel.clicked.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        outer.addLayout(buttons)

    def _learning_group(self) -> QGroupBox:
        """Automatic training: off by default; when on, it starts only when the machine idles."""
        group = QGroupBox("Learning", self)
        form = QFormLayout(group)
        auto = QCheckBox("Train by itself when enough new feedback has gathered and I am away")
        auto.setToolTip(
            "Never while an answer is written, you are typing, another training or merge runs, "
            "or the computer is busy"
        )
        count = _int(1, 10000)
        count.setSuffix(" new answers rated or edited")
        for name, widget in (("auto_train", auto), ("auto_train_min_feedback", count)):
            widget.setObjectName(f"setting_{name}")
            self.inputs[name] = widget
            form.addRow(FIELDS[name].label, widget)
        count.setEnabled(False)  # until the box is ticked (load() sets both)
        auto.toggled.connect(count.setEnabled)
        return group

    # -- models ---------------------------------------------------------------------------------
    def _model_group(self) -> QGroupBox:
        group = QGroupBox("Model", self)
        box = QVBoxLayout(group)
        self.models = QTableWidget(0, len(MODEL_COLUMNS), group)
        self.models.setObjectName("modelTable")
        self.models.setHorizontalHeaderLabels(MODEL_COLUMNS)
        self.models.verticalHeader().hide()
        self.models.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.models.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.models.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.models.setFixedHeight(140)
        box.addWidget(self.models)
        row = QHBoxLayout()
        add = QPushButton("Add GGUF file…", group)
        self.use_button = QPushButton("Use", group)
        self.remove_button = QPushButton("Remove from list", group)
        add.clicked.connect(self._add_model)
        self.use_button.clicked.connect(self._use_model)
        self.remove_button.clicked.connect(self._remove_model)
        row.addWidget(add)
        row.addStretch(1)
        row.addWidget(self.use_button)
        row.addWidget(self.remove_button)
        box.addLayout(row)
        return group

    def refresh_models(self) -> None:
        core = self.window_.session.core
        if core is not None:
            self.window_.tasks.run(lambda: choices(core.store), self.show_models)

    def show_models(self, found: list[ModelChoice]) -> None:
        self.models.setRowCount(len(found))
        for row, model in enumerate(found):
            cells = [
                "●" if model.active else "",
                model.name,
                model.architecture or "?",
                model.quantization or "?",
                f"{model.context_length:,}" if model.context_length else "?",
                f"{model.size_mb:,.0f} MB",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, model.id)
                item.setToolTip(model.path if model.readable else f"{model.path} (cannot be read)")
                self.models.setItem(row, column, item)

    def _selected_model(self) -> int | None:
        items = self.models.selectedItems()
        return int(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def _add_model(self) -> None:
        self.window_.add_model()
        self.refresh_models()

    def _use_model(self) -> None:
        model_id = self._selected_model()
        if model_id is not None:
            self.window_.use_model(model_id)

    def _remove_model(self) -> None:
        core, model_id = self.window_.session.core, self._selected_model()
        if core is None or model_id is None:
            return
        self.window_.tasks.run(
            lambda: remove(core.store, model_id),
            lambda _r: self.refresh_models(),
            lambda exc: self.show_error(str(exc)),
        )

    # -- values ---------------------------------------------------------------------------------
    def load(self, settings: Any) -> None:
        for name, widget in self.inputs.items():
            value = getattr(settings, name)
            if isinstance(widget, QPlainTextEdit):
                widget.setPlainText(value)
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            else:
                widget.setValue(value)  # type: ignore[attr-defined]
        self.error.hide()

    def values(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            if isinstance(widget, QPlainTextEdit):
                found[name] = widget.toPlainText()
            elif isinstance(widget, QCheckBox):
                found[name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                found[name] = widget.currentText()
            elif isinstance(widget, QDoubleSpinBox):
                found[name] = round(widget.value(), widget.decimals())
            else:
                found[name] = widget.value()  # type: ignore[attr-defined]
        return found

    def open_for(self, core: Any) -> None:
        self.load(core.settings)
        self.refresh_models()
        self.show()
        self.raise_()
        self.activateWindow()

    def save(self) -> None:
        core = self.window_.session.core
        if core is None:
            self.show_error("Hearth is still starting; try again in a moment.")
            return
        changes = self.values()
        self.save_button.setEnabled(False)
        self.window_.tasks.run(lambda: apply_to_core(core, changes), self._saved, self._failed)

    def _saved(self, changed: list[str]) -> None:
        core = self.window_.session.core
        if "auto_train" in changed and core is not None:
            core.learning.auto.poke()  # feedback gathered before it was turned on may be due
        self.save_button.setEnabled(True)
        self.error.hide()
        self.saved.emit(changed)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        if isinstance(exc, SettingError):
            self.show_error(f"Not saved: {exc}")
        else:
            self.show_error(f"Could not save the settings: {exc}")

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
