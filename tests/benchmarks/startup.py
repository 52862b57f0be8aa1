"""Launch to window visible, and launch to the first streamed token, for the real app.

Each run starts `python -m app` afresh (offscreen) with a probe that makes the window print
when it is shown and, once the default model streams its first token for a probe prompt,
quits. Times are measured here, from just before the launch; medians of several runs.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5
PROMPT = "Say hello."


def one_run(home: str) -> tuple[float, float]:
    env = dict(
        os.environ,
        HEARTH_HOME=home,
        HEARTH_STARTUP_PROBE="1",
        HEARTH_STARTUP_PROMPT=PROMPT,
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    visible = first = float("nan")
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - start
        if line.startswith("{"):
            key = next(iter(json.loads(line)), "")
            if key == "window_visible_s":
                visible = now
            elif key == "first_token_s":
                first = now
                break
    proc.wait(timeout=60)
    return visible, first


def main() -> None:
    home = tempfile.mkdtemp(prefix="hearth-startup-")
    # The first launch copies the default model into place and runs its one-time check in a
    # child process (app/llm/probe.py): reported apart, not in the medians.
    first_launch = one_run(home)
    visible, first = [], []
    for _ in range(RUNS):
        v, f = one_run(home)
        visible.append(v)
        first.append(f)
    print(
        json.dumps(
            {
                "window_visible_s": round(statistics.median(visible), 3),
                "first_token_s": round(statistics.median(first), 3),
                "first_launch_window_visible_s": round(first_launch[0], 3),
                "first_launch_first_token_s": round(first_launch[1], 3),
                "runs": RUNS,
                "window_visible_runs": [round(x, 3) for x in visible],
                "first_token_runs": [round(x, 3) for x in first],
            }
        )
    )


if __name__ == "__main__":
    main()
