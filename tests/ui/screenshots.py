"""Screenshots of the real window (run by hand, not collected by pytest).

    xvfb-run -a -s "-screen 0 1280x820x24" .venv/bin/python tests/ui/screenshots.py OUT_DIR

Opens the window on a fresh HEARTH_HOME with the real default model, chats, and saves PNGs of
the whole screen (`import -window root`, the X server's own pixels) and of the window itself.
The memories panel is shown on an answer seeded with one memory (memory recall is its own part).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-shots-"))
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.settings import Settings, save_settings
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_style

    save_settings(Settings(max_tokens=160, temperature=0.2, memory_enabled=False, threads=1))
    app = QApplication(sys.argv[:1])
    apply_style(app)
    window = MainWindow()
    window.resize(1120, 760)
    window.move(0, 0)
    window.show()

    def pump(until, limit: float = 180.0) -> None:
        start = time.time()
        while not until() and time.time() - start < limit:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()

    def shot(name: str, widget=None) -> None:
        for _ in range(5):
            app.processEvents()
            time.sleep(0.05)
        (widget or window).grab().save(str(out / f"{name}.png"))
        if os.environ.get("DISPLAY") and shutil.which("import"):
            subprocess.run(
                [
                    "import",
                    "-window",
                    "root",
                    "-crop",
                    "1120x760+0+0",
                    str(out / f"{name}-x11.png"),
                ],
                check=False,
            )

    shot("01-starting")
    pump(lambda: window.session.state != "loading")
    shot("02-ready")
    window.composer.input.setPlainText(
        "Write a Python function that checks whether a number is prime, and explain it briefly."
    )
    window.composer.submit()
    tokens = []
    window.worker.signals.token.connect(tokens.append)
    pump(lambda: len(tokens) >= 25)
    shot("03-streaming")
    pump(lambda: not window.generating)
    shot("04-answer")

    core = window.session.core
    mem = core.store.execute(
        "INSERT INTO memories(text, kind, source_type) VALUES(?, 'fact', 'manual')",
        ("My sister is called Ana and lives in Porto.",),
    )
    conv = core.conversations.create("Visiting Ana")
    core.conversations.add_message(conv, "user", "Where should I stay when I visit my sister?")
    core.conversations.add_message(
        conv,
        "assistant",
        "Since **Ana lives in Porto**, stay near her:\n\n- *Ribeira* for the river views\n"
        "- *Cedofeita* for quiet streets and cafés\n\nWant a few places to eat as well?",
        model="SmolLM2-135M-Instruct (Q4_1)",
        tokens=52,
        tok_s=61.3,
        meta={"memories_used": [mem]},
    )
    for title, days in (("Trip ideas for the spring", 3), ("Tax return checklist", 20)):
        old = core.conversations.create(title)
        core.conversations.add_message(old, "user", title)
        core.store.execute(
            "UPDATE conversations SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) "
            "WHERE id = ?",
            (f"-{days} days", old),
        )
    window.refresh_conversations()
    pump(lambda: conv in window.sidebar.ids(), 10)
    window.sidebar.select(conv)
    pump(lambda: len(window.chat.answers()) == 1, 10)
    window.chat.answers()[0].memory_toggle.setChecked(True)
    shot("05-memories-used")
    window.notice.show_message(
        "Remembered: “My sister is called Ana and lives in Porto.”", undo=lambda: None
    )
    window.chat.answers()[0].start_edit()
    shot("07-edit-answer-and-notice")
    window.chat.answers()[0].end_edit()
    window.notice.hide()

    bad = Path(os.environ["HEARTH_HOME"]) / "half-downloaded.gguf"
    model = core.engine.model_info.path
    bad.write_bytes(model.read_bytes()[: model.stat().st_size // 3])
    try:
        core.models.add(bad)
        message = "unexpectedly accepted"
    except Exception as exc:  # the real ModelError text
        message = str(exc)
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Cannot use this model",
        f"{message}\n\nThe model you were using stays active.",
        parent=window,
    )
    box.setModal(False)
    box.show()
    shot("06-bad-model")
    box.close()
    window.close()
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")))
