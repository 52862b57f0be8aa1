"""The GUI entry point: the window first, everything heavy after it is on screen.

Only Qt and Hearth's light modules are imported before the window shows; the core (llama.cpp,
the store, memory) opens on a background thread once the event loop runs.

For tests/benchmarks/startup.py: with `HEARTH_STARTUP_PROBE=1` the app prints one JSON line
`{"window_visible_s": ...}` when the window is shown; with `HEARTH_STARTUP_PROMPT=TEXT` it also
sends TEXT, prints `{"first_token_s": ...}` at the first streamed token, and quits (on a
failure: `{"error": ...}`, exit status 2). Times count from `HEARTH_STARTUP_T0` (a `time.time()`
value set by the launcher) when given, else from the moment this module was imported.
"""

from __future__ import annotations

import json
import os
import sys
import time

_IMPORTED = time.time()


def _since_start() -> float:
    t0 = os.environ.get("HEARTH_STARTUP_T0")
    return time.time() - (float(t0) if t0 else _IMPORTED)


def _probe(key: str) -> None:
    if os.environ.get("HEARTH_STARTUP_PROBE"):
        print(json.dumps({key: round(_since_start(), 4)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_style

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("Hearth")
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")
    apply_style(app)
    from app.settings import load_settings
    from app.ui.themes import apply_theme

    apply_theme(app, load_settings().theme)  # a small JSON file: read before the window shows
    window = MainWindow(open_core=False)
    window.show()
    app.processEvents()  # the first frame is painted before anything else happens
    _probe("window_visible_s")
    # The core opens once the event loop runs, so nothing delays the window.
    QTimer.singleShot(0, window.session.open)
    prompt = os.environ.get("HEARTH_STARTUP_PROMPT")
    if os.environ.get("HEARTH_STARTUP_PROBE") and prompt:
        _send_and_time_first_token(app, window, prompt)
    app.aboutToQuit.connect(window.shutdown)
    return int(app.exec())


def _send_and_time_first_token(app, window, prompt: str) -> None:
    """Send at once (the reply waits for the model) and quit after the first token."""
    window.composer.send.emit(prompt)
    worker = window.worker
    seen = []

    def first(_text: str) -> None:
        if not seen:
            seen.append(True)
            _probe("first_token_s")
            window.stop_generation()
            window.close()
            app.quit()

    def failed(message: str) -> None:
        print(json.dumps({"error": message}), flush=True)
        window.close()
        app.exit(2)

    worker.signals.token.connect(first)
    worker.signals.failed.connect(failed)


if __name__ == "__main__":
    raise SystemExit(main())
