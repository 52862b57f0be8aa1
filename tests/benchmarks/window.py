"""Does the window keep up? Streaming speed shown against raw llama-cpp-python, GUI stalls, and
how fast a long conversation opens.

- `window_decode_ratio`: tokens/s of a 300-token greedy answer as the window receives them
  (first to last token on the GUI thread), over raw llama-cpp-python on the same model,
  threads and prompt (median of rounds, interleaved). Target >= 0.95.
- `max_stall_ms`: the longest gap beyond its period of a 5 ms GUI timer, while the answer
  streams and while 10,000 notes are imported into memory (each also reported on its own).
  Training and merging are not run here (minutes on a small machine): their keys are null.
  Target <= 50.
- `open_s`: opening a stored conversation of 1,000 messages with code blocks, until its newest
  messages are in the window (it opens on the newest 40; older ones come on scrolling up, and
  `load_all_earlier_s` is the time to bring in all the rest). Target <= 0.5.
Runs under Xvfb when `xvfb-run` put it there, else offscreen. Prints one JSON object;
`--rounds N --tokens N --messages N --notes N` for a short run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
os.environ["HF_HUB_OFFLINE"] = "1"
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
CODE = "Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nDone."


class StallMeter:
    """A 5 ms timer on the GUI thread; the longest gap beyond 5 ms is the worst stall."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.worst = max(self.worst, now - self.last - 0.005)
        self.last = now

    def __enter__(self) -> StallMeter:
        self.last, self.worst = 0.0, 0.0
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()


def wait(app: object, condition: object, timeout: float = 600) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():  # type: ignore[operator]
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.001)
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not finish in time")


def window_stream(app: object, window: object, tokens: int) -> float:
    """Tokens/s of one answer as the GUI thread receives them."""
    stamps: list[float] = []
    window.new_conversation()  # type: ignore[attr-defined]
    window.composer.send.emit(PROMPT)  # type: ignore[attr-defined]
    window.worker.signals.token.connect(lambda _t: stamps.append(time.perf_counter()))  # type: ignore[attr-defined]
    wait(app, lambda: not window.generating)  # type: ignore[attr-defined]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0


def raw_stream(llama: object, system: str, tokens: int) -> float:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": PROMPT}]
    stamps = []
    llama.reset()  # type: ignore[attr-defined]
    for chunk in llama.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages, max_tokens=tokens, temperature=0.0, top_k=1, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--notes", type=int, default=10_000)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.llm.llama_loader import free_cores, load_llama
    from app.settings import Settings, save_settings
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_style

    threads = free_cores()
    save_settings(
        Settings(max_tokens=args.tokens, temperature=0.0, memory_enabled=False, threads=threads)
    )
    app = QApplication.instance() or QApplication(sys.argv)
    apply_style(app)
    window = MainWindow()
    window.show()
    wait(app, lambda: window.session.state in ("ready", "error"))
    core = window.session.core
    info = core.engine.wait_loaded()
    raw = load_llama(info.path, n_ctx=core.engine.n_ctx, n_threads=threads)
    meter = StallMeter()

    ui_rates, raw_rates, stream_stalls = [], [], []
    window_stream(app, window, args.tokens)  # warm both
    raw_stream(raw, core.settings.system_prompt, args.tokens)
    for _ in range(args.rounds):
        with meter:
            ui_rates.append(window_stream(app, window, args.tokens))
        stream_stalls.append(meter.worst)
        raw_rates.append(raw_stream(raw, core.settings.system_prompt, args.tokens))
    raw.close()

    notes_stall = None
    if args.notes:
        folder = Path(tempfile.mkdtemp(prefix="hearth-notes-"))
        for i in range(args.notes):
            (folder / f"note{i:05}.txt").write_text(f"Note {i}: the blue kettle is on shelf {i}.")
        done: list[object] = []
        with meter:
            window.tasks.run(lambda: core.memory.import_notes([folder]), done.append, done.append)
            wait(app, lambda: bool(done), timeout=3600)
        notes_stall = meter.worst

    conv = core.conversations.create("Long")
    for i in range(args.messages // 2):
        core.conversations.add_message(conv, "user", f"Question {i}: how do I add numbers?")
        core.conversations.add_message(conv, "assistant", CODE)
    from app.ui.main_window import RECENT_MESSAGES

    window.new_conversation()
    shown = min(args.messages, RECENT_MESSAGES)
    started = time.perf_counter()
    window.open_conversation(conv)
    # open: the newest messages are in the window (older ones come on scrolling up)
    wait(app, lambda: len(window.chat.message_widgets()) >= shown)
    open_s = time.perf_counter() - started
    started = time.perf_counter()
    while len(window.chat.message_widgets()) < args.messages:
        window.load_earlier()
        wait(app, lambda: not window._loading_earlier)
    all_s = time.perf_counter() - started
    window.shutdown()

    stalls = [s for s in [max(stream_stalls), notes_stall] if s is not None]
    print(
        json.dumps(
            {
                "platform": QApplication.platformName(),
                "threads": threads,
                "tokens": args.tokens,
                "window_tok_s": round(statistics.median(ui_rates), 2),
                "raw_tok_s": round(statistics.median(raw_rates), 2),
                "window_decode_ratio": round(
                    statistics.median(ui_rates) / statistics.median(raw_rates), 3
                ),
                "max_stall_ms": round(max(stalls) * 1000, 1),
                "stall_streaming_ms": round(max(stream_stalls) * 1000, 1),
                "stall_notes_import_ms": round(notes_stall * 1000, 1) if notes_stall else None,
                "notes": args.notes,
                "stall_training_ms": None,
                "stall_merge_ms": None,
                "open_messages": args.messages,
                "open_s": round(open_s, 3),
                "open_shown_messages": shown,
                "load_all_earlier_s": round(all_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
