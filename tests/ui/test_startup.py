"""The window starts light: no heavy ML import before it shows, and closing leaves no thread."""

from __future__ import annotations

import subprocess
import sys

HEAVY = [
    "torch",
    "llama_cpp",
    "sentence_transformers",
    "transformers",
    "app.core",
    "app.llm.engine",
]


def test_importing_the_window_pulls_in_no_heavy_module():
    code = (
        "import sys, app.ui.app, app.ui.main_window; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_closing_the_window_stops_the_reply_and_every_thread(
    make_window, driver, qtbot, settings_for_ui
):
    settings_for_ui(max_tokens=400)
    window = make_window()
    tokens: list[str] = []
    window.composer.send.connect(lambda _t: window.worker.signals.token.connect(tokens.append))
    driver.type_and_send(window, "Tell me a long story about the sea.")
    qtbot.waitUntil(lambda: len(tokens) >= 2, timeout=120_000)
    core = window.session.core
    window.close()  # mid-reply
    assert window.session.core is None
    assert window.tasks.pool.activeThreadCount() == 0
    from app.llm.engine import threads_alive

    assert threads_alive() == []
    assert core.engine.model_info is None or core.engine._llama is None


def test_python_m_app_shows_the_window_then_streams_a_first_token(hearth_home, settings_for_ui):
    """`python -m app` end to end: the window is reported before the first token."""
    import json
    import os
    import time

    env = {
        **os.environ,
        "HEARTH_STARTUP_PROBE": "1",
        "HEARTH_STARTUP_PROMPT": "Hello",
        "HEARTH_STARTUP_T0": str(time.time()),
        "QT_QPA_PLATFORM": "offscreen",
    }
    out = subprocess.run(
        [sys.executable, "-m", "app"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    assert [next(iter(x)) for x in lines] == ["window_visible_s", "first_token_s"]
    assert 0 < lines[0]["window_visible_s"] < lines[1]["first_token_s"]
    assert "Traceback" not in out.stderr
