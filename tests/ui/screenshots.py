"""Screenshots of the real window for the README (run by hand, not collected by pytest).

    HEARTH_THREADS=1 xvfb-run -a -s "-screen 0 1280x860x24" \\
        .venv/bin/python tests/ui/screenshots.py resources/screenshots

Opens the window on a fresh HEARTH_HOME with the real default model and real answers: a chat
with a code block, the answer regenerated (the "‹ 2/2 ›" arrows), search, settings, the privacy
page and the dark theme. Under X the pictures are the server's own pixels (dialogs over the
window, as a user sees them); elsewhere each window grabs itself. With ImageMagick's `convert`
the PNGs get a 96-colour palette, to keep the README light.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Write a Python function that adds two numbers, in a code block."
OLDER = (
    ("Packing list for Porto", "What should I pack for three days in Porto in April?", 3),
    ("Sourdough starter", "My sourdough starter smells of acetone. What now?", 9),
    ("Tax return checklist", "Which papers do I need for my tax return?", 20),
)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-shots-"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtGui import QGuiApplication, QImage
    from PySide6.QtWidgets import QApplication, QWidget

    from app.settings import Settings, save_settings
    from app.ui.main_window import MainWindow
    from app.ui.menus import open_tool_page
    from app.ui.themes import apply_theme

    save_settings(Settings(max_tokens=120, temperature=0.0, memory_enabled=False, threads=1))
    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    window = MainWindow()
    window.resize(1120, 760)
    window.move(0, 0)
    window.show()

    def pump(until: Callable[[], bool], limit: float = 300.0) -> None:
        start = time.time()
        while not until() and time.time() - start < limit:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()

    def shot(name: str, widget: QWidget | None = None) -> None:
        pump(lambda: False, 0.4)  # let everything paint
        target = widget or window
        if QGuiApplication.platformName() == "xcb":
            frame = target.frameGeometry()
            image: QImage = (
                QGuiApplication.primaryScreen()
                .grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
                .toImage()
            )
        else:
            image = target.grab().toImage()
        path = out / f"{name}.png"
        image.save(str(path), "PNG", 0)
        if shutil.which("convert"):  # ImageMagick: a 96-colour palette, a third of the size
            subprocess.run(
                ["convert", str(path), "-dither", "None", "-colors", "96", f"PNG8:{path}"],
                check=True,
            )
        print(path, path.stat().st_size // 1024, "KB")

    pump(lambda: window.session.state != "loading" and window.session.core is not None)
    core = window.session.core
    for title, question, days in OLDER:
        old = core.conversations.create(title)
        core.conversations.add_message(old, "user", question)
        core.store.execute(
            "UPDATE conversations SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) "
            "WHERE id = ?",
            (f"-{days} days", old),
        )
    window.refresh_conversations()
    window.new_conversation()

    # 1. a real answer with a code block
    window.composer.input.setPlainText(QUESTION)
    window.composer.submit()
    pump(lambda: not window.generating)
    shot("chat-code-block")

    # 2. the answer regenerated: both versions kept, arrows between them
    answer = window.chat.answers()[-1]
    window.regenerate_answer(answer.message_id)
    pump(lambda: not window.generating)
    pump(lambda: any("2/2" in _texts(w) for w in window.chat.answers()), 20)
    shot("branches")

    # 3. search across conversations
    window.open_search()
    search = window.search_dialog
    search.query.setText("Porto")
    pump(lambda: search.results.count() > 0, 20)
    shot("search")
    search.close()

    # 4. settings
    window.open_settings()
    settings = window.settings_dialog
    shot("settings")
    settings.close()

    # 5. the privacy page
    page = open_tool_page(window, "privacy")
    if page is not None:
        page.resize(980, 850)
        page.move(0, 0)
        pump(lambda: False, 3)  # its inventory arrives from the task pool
        shot("privacy", page)
        page.close()

    # 6. the dark theme (the conversation opened again: its code block is drawn for it)
    apply_theme(app, "dark")
    window.open_conversation(window.conversation_id, reload=True)
    pump(lambda: False, 2)
    shot("dark-theme")
    window.close()
    return 0


def _texts(widget: Any) -> str:
    from PySide6.QtWidgets import QAbstractButton, QLabel

    parts = [w.text() for w in widget.findChildren(QLabel)]
    parts += [w.text() for w in widget.findChildren(QAbstractButton)]
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")))
