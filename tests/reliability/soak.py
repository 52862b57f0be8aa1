"""Soak: many turns in the real window (offscreen), memory on and an adapter active, as a window
left open for days would see them. Does anything pile up?

Each turn types a message into the window, waits for the answer and for the memory extraction
that follows it (a person types slower than that), and starts a new conversation every
`--per-conversation` turns (context length stays comparable, so speed is comparable). The
adapter is a small random LoRA for the default model written as GGUF, imported and activated
through the adapter service (llama.cpp hot-swaps it like a trained one; no training here).

The start figures are taken after `--warmup` turns (model, embedder, caches and thread pools
warm), the end figures after the last turn; both after a garbage collection. Prints one JSON
object; the targets: `rss_growth` (end/start - 1) <= 0.10; open files, threads and SQLite
connections flat; `decode_speed_ratio` (median tokens/s of the last `--window` turns over that
of the `--window` turns after warm-up) within 5% of 1. `decode_cpu_speed_ratio` is the same
ratio in tokens per CPU-second of the thread that generates (llama.cpp decodes on it): on a
machine shared with other work, wall-clock speed also measures the others.

    python tests/reliability/soak.py --turns 1000          (make soak)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the app and the test helpers import from here
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBJECTS = ["my sister Ana", "our cat Miso", "the garden", "my bike", "the new job", "Lisbon"]
MESSAGES = [
    "Remember that {s} matters to me, note {i}.",
    "Tell me one short fact about {s}.",
    "I talked about {s} today (turn {i}).",
    "What should I do next with {s}?",
]


def figures() -> dict[str, int]:
    """RSS, open files, OS threads and SQLite connections (descriptors on a .db file)."""
    fds = os.listdir("/proc/self/fd")
    sqlite = sqlite_files = 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        sqlite += target.endswith(".db")
        sqlite_files += target.endswith((".db", ".db-wal", ".db-shm"))
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {
        "rss_mb": int(status["VmRSS"].split()[0]) // 1024,
        # the process's own memory: the model's mapped file pages come and go with the page cache
        "rss_anon_mb": int(status.get("RssAnon", "0 kB").split()[0]) // 1024,
        "open_files": len(fds),
        "threads": len(os.listdir("/proc/self/task")),
        "python_threads": threading.active_count(),
        "sqlite_connections": sqlite,
        "sqlite_files": sqlite_files,  # a pooled reader holds its .db, -wal and -shm
    }


def install_adapter() -> str:
    """A small LoRA for the default model, imported and made active (before the window opens)."""
    from app import paths
    from app.adapters.lora_file import base_model_info, write_lora
    from app.core import Core
    from app.llm.models import packaged_default_model
    from tests.adapters.test_merge_helpers import random_adapter

    home = paths.home()
    assert home is not None
    path = home / "soak-source" / "soak-skill.gguf"
    base = base_model_info(packaged_default_model())
    write_lora(path, random_adapter(base, b_scale=0.002, seed=7, layers=[0, 1, 2, 3]))
    core = Core.open(load_model=False)
    try:
        adapter_id = core.adapters.import_file(path)
        return core.adapters.activate(adapter_id, 1.0).name
    finally:
        core.close()


def wait(app: Any, condition: Any, timeout: float = 600) -> None:
    from PySide6.QtCore import QEvent

    deadline = time.monotonic() + timeout
    while not condition():
        app.processEvents()
        # what the running event loop does between events: processEvents() alone never deletes
        # widgets given deleteLater(), and every old conversation's messages would pile up
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        time.sleep(0.002)
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not finish in time")


def run(
    turns: int,
    warmup: int = 20,
    window: int = 50,
    max_tokens: int = 16,
    per_conversation: int = 10,
    rules_only: bool = False,
    report_every: int = 0,
    max_minutes: float = 0.0,
) -> dict[str, Any]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app import paths
    from app.settings import Settings, save_settings
    from app.ui.main_window import MainWindow

    direct = Qt.ConnectionType.DirectConnection

    if paths.home() is None:
        raise SystemExit("set HEARTH_HOME to a scratch folder")
    save_settings(Settings(max_tokens=max_tokens, temperature=0.0, memory_enabled=True, threads=1))
    adapter = install_adapter()
    app = QApplication.instance() or QApplication(sys.argv)
    win = MainWindow()
    win.show()
    wait(app, lambda: win.session.state in ("ready", "error"))
    core = win.session.core
    assert core is not None and win.session.state == "ready", win.status.model.text()
    core.engine.wait_loaded()
    if not core.engine.active_adapters:
        raise RuntimeError("the adapter is not active in the engine")
    if rules_only:  # the short version: no model generation per turn to extract memories
        from app.memory.extract_model import ModelExtractor

        extractors = core.memory.extractors
        extractors[:] = [e for e in extractors if not isinstance(e, ModelExtractor)]

    def idle() -> bool:
        learners = getattr(core.assistant, "_learners", [])
        return not win.generating and not any(t.is_alive() for t in learners)

    rates: list[float] = []
    cpu_rates: list[float] = []
    start: dict[str, int] = {}
    started = time.monotonic()
    done = 0
    for i in range(turns):
        if max_minutes and i > warmup and time.monotonic() - started > max_minutes * 60:
            break  # a time limit: the figures are those of the turns done
        if i == warmup:
            gc.collect()
            start = figures()
        if i % per_conversation == 0:
            win.new_conversation()
        stamps: list[float] = []
        cpu: list[float] = []
        text = MESSAGES[i % len(MESSAGES)].format(s=SUBJECTS[i % len(SUBJECTS)], i=i)
        win.composer.send.emit(text)
        sig = win.worker.signals
        sig.token.connect(lambda _t, s=stamps: s.append(time.perf_counter()))
        # Run on the generating thread itself (llama.cpp decodes on it with one thread): its
        # CPU time per token does not count the time other programs held the cores.
        sig.token.connect(lambda _t, c=cpu: c.append(time.thread_time()), direct)
        wait(app, idle)
        rates.append(_rate(stamps))
        cpu_rates.append(_rate(cpu))
        done = i + 1
        if report_every and done % report_every == 0:  # progress, for a run cut short
            recent = [r for r in rates[-window:] if r == r]
            now = {"turn": done, "seconds": round(time.monotonic() - started), **figures()}
            now["tok_s_median"] = round(statistics.median(recent), 2) if recent else None
            print(json.dumps(now), file=sys.stderr, flush=True)
    gc.collect()
    end = figures()
    memories = core.memory.count() if core.memory is not None else 0
    win.shutdown()
    early = [r for r in rates[warmup : warmup + window] if r == r]
    late = [r for r in rates[-window:] if r == r]
    cpu_start = _median(cpu_rates[warmup : warmup + window])
    cpu_end = _median(cpu_rates[-window:])
    speed_start = statistics.median(early) if early else 0.0
    speed_end = statistics.median(late) if late else 0.0
    return {
        "turns": done,
        "turns_asked": turns,
        "warmup_turns": warmup,
        "speed_window_turns": window,
        "max_tokens": max_tokens,
        "adapter": adapter,
        "memories": memories,
        "model_extraction": not rules_only,
        "seconds": round(time.monotonic() - started, 1),
        "rss_mb_start": start["rss_mb"],
        "rss_mb_end": end["rss_mb"],
        "rss_growth": round(end["rss_mb"] / start["rss_mb"] - 1, 4),
        "rss_anon_mb_start": start["rss_anon_mb"],
        "rss_anon_mb_end": end["rss_anon_mb"],
        "open_files_start": start["open_files"],
        "open_files_end": end["open_files"],
        "threads_start": start["threads"],
        "threads_end": end["threads"],
        "python_threads_start": start["python_threads"],
        "python_threads_end": end["python_threads"],
        "sqlite_connections_start": start["sqlite_connections"],
        "sqlite_connections_end": end["sqlite_connections"],
        "sqlite_files_start": start["sqlite_files"],
        "sqlite_files_end": end["sqlite_files"],
        "decode_tok_s_start": round(speed_start, 2),
        "decode_tok_s_end": round(speed_end, 2),
        "decode_speed_ratio": round(speed_end / speed_start, 4) if speed_start else None,
        # tokens per CPU-second of the generating thread: the same ratio, blind to other load
        "decode_cpu_tok_s_start": round(cpu_start, 2),
        "decode_cpu_tok_s_end": round(cpu_end, 2),
        "decode_cpu_speed_ratio": round(cpu_end / cpu_start, 4) if cpu_start else None,
    }


def _rate(stamps: list[float]) -> float:
    """Tokens per second between the first token and the last (NaN for too few)."""
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def _median(rates: list[float]) -> float:
    known = [r for r in rates if r == r]
    return statistics.median(known) if known else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--window", type=int, default=50, help="turns per speed median")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--per-conversation", type=int, default=10)
    parser.add_argument("--rules-only", action="store_true", help="no model memory extraction")
    parser.add_argument("--report-every", type=int, default=0, help="progress lines (stderr)")
    parser.add_argument("--max-minutes", type=float, default=0, help="stop early (0: never)")
    args = parser.parse_args()
    if args.turns <= args.warmup:
        parser.error("--turns must be more than --warmup")
    if os.environ.get("HEARTH_HOME") is None:
        os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-soak-")
    os.environ.setdefault("HEARTH_THREADS", "1")
    result = run(
        args.turns,
        args.warmup,
        args.window,
        args.max_tokens,
        args.per_conversation,
        args.rules_only,
        args.report_every,
        args.max_minutes,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
