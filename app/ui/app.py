"""The GUI entry point: the window first, everything heavy after it is on screen.

Only Qt and Hearth's light modules are imported before the window shows; the core (llama.cpp,
the store, memory) opens on a background thread once the event loop runs.
"""

from __future__ import annotations

import os
import sys
import time

_STARTED = time.perf_counter()


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
    window = MainWindow(open_core=False)
    window.show()
    _report_visible()
    # The core opens once the first frame is painted, so nothing delays the window.
    QTimer.singleShot(0, window.session.open)
    app.aboutToQuit.connect(window.shutdown)
    return int(app.exec())


def _report_visible() -> None:
    """For tests/benchmarks/startup.py: when HEARTH_STARTUP_PROBE is set, print the time."""
    if os.environ.get("HEARTH_STARTUP_PROBE"):
        print(f"window_visible_s={time.perf_counter() - _STARTED:.3f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
