"""The packaged app against the source checkout: sizes, launch to window, self-test, decode.

Needs `make package` first. Uses the installed app (`/usr/bin/hearth`, from the .deb) when it
is installed, else the bundle in dist/hearth. The window is timed under Xvfb when it is
installed (the real xcb platform plugin), else offscreen; times are measured here, from just
before the launch to the app's line saying its window is shown (`HEARTH_STARTUP_PROBE`),
median of several launches after a first one. Decode speed is the same greedy loop
(`hearth --self-test --decode N`) in the bundle and in this checkout, one thread, in fresh
processes, paired rounds in alternating order; the ratio is bundle over source.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
WINDOW_RUNS = 5
DECODE_ROUNDS = 5
DECODE_TOKENS = 128


def megabytes(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink()) / 1e6


def largest_parts(bundle: Path, top: int = 8) -> dict[str, float]:
    """What weighs most inside the bundle, by top folder under _internal (and big files)."""
    internal = bundle / "_internal"
    sizes: dict[str, float] = {}
    for child in internal.iterdir():
        sizes[child.name] = megabytes(child)
    return {k: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]}


def app_command() -> tuple[list[str], str]:
    installed = Path("/usr/bin/hearth")
    if installed.exists() and Path("/opt/hearth/hearth").exists():
        return [str(installed)], "installed"
    bundled = DIST / "hearth" / "hearth"
    if not bundled.exists():
        sys.exit("no bundle: run `make package` first")
    return [str(bundled)], "dist"


@contextmanager
def display() -> Iterator[dict[str, str]]:
    """An Xvfb display when Xvfb is installed (the platform plugin users get), else offscreen."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        yield {"QT_QPA_PLATFORM": "offscreen"}
        return
    num = f":{90 + os.getpid() % 9}"
    proc = subprocess.Popen(
        [xvfb, num, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield {"DISPLAY": num, "QT_QPA_PLATFORM": "xcb"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def window_visible(cmd: list[str], home: str, screen: dict[str, str]) -> float:
    env = dict(os.environ, HEARTH_HOME=home, HEARTH_STARTUP_PROBE="1", PYTHONUNBUFFERED="1")
    env.update(screen)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd="/"
    )
    visible = float("nan")
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("{") and "window_visible_s" in line:
                visible = time.perf_counter() - start
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return visible


def decode(cmd: list[str]) -> float:
    env = dict(os.environ, HEARTH_THREADS="1")
    env.pop("LLAMA_CPP_LIB_PATH", None)  # each finds its own llama.cpp
    done = subprocess.run(
        [*cmd, "--self-test", "--decode", str(DECODE_TOKENS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
        cwd=ROOT if cmd[0] == sys.executable else "/",
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["tok_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    args = parser.parse_args()
    window_runs, rounds = (2, 1) if args.quick else (WINDOW_RUNS, DECODE_ROUNDS)
    cmd, where = app_command()
    bundle = Path("/opt/hearth") if where == "installed" else DIST / "hearth"
    debs = sorted(DIST.glob("hearth_*_amd64.deb"))
    tars = sorted(DIST.glob("hearth-*-linux-x86_64.tar.gz"))
    out: dict[str, object] = {
        "app": where,
        "bundle_mb": round(megabytes(bundle), 1),
        "deb_mb": round(megabytes(debs[-1]), 1) if debs else None,
        "tar_gz_mb": round(megabytes(tars[-1]), 1) if tars else None,
        "bundle_parts_mb": largest_parts(bundle),
    }

    started = time.perf_counter()
    done = subprocess.run(
        [*cmd, "--self-test"], capture_output=True, text=True, timeout=900, cwd="/"
    )
    out["bundle_self_test_s"] = round(time.perf_counter() - started, 2)
    out["bundle_self_test_ok"] = done.returncode == 0

    home = tempfile.mkdtemp(prefix="hearth-bundle-bench-")
    try:
        with display() as screen:
            first = window_visible(cmd, home, screen)  # copies the model, runs its first check
            times = [window_visible(cmd, home, screen) for _ in range(window_runs)]
        out["bundle_window_platform"] = screen["QT_QPA_PLATFORM"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out["bundle_first_window_visible_s"] = round(first, 3)
    out["bundle_window_visible_s"] = round(statistics.median(times), 3)
    out["bundle_window_runs"] = [round(t, 3) for t in times]

    source = [sys.executable, "-m", "app"]
    ratios, packaged, checkout = [], [], []
    for round_no in range(rounds):
        # Alternate which goes first, so neither always gets the quieter slot.
        pair = {}
        for name in ("bundle", "source") if round_no % 2 == 0 else ("source", "bundle"):
            pair[name] = decode(cmd if name == "bundle" else source)
        packaged.append(pair["bundle"])
        checkout.append(pair["source"])
        ratios.append(pair["bundle"] / pair["source"])
    out["bundle_decode_tok_s"] = round(statistics.median(packaged), 2)
    out["source_decode_tok_s"] = round(statistics.median(checkout), 2)
    out["bundle_decode_ratio"] = round(statistics.median(ratios), 4)
    out["decode_ratios"] = [round(r, 4) for r in ratios]
    out["decode_tokens"] = DECODE_TOKENS
    out["threads"] = 1
    print(json.dumps(out))


if __name__ == "__main__":
    main()
