"""The first run of a model on this computer happens in a child process, never in the app.

A GGUF can crash llama.cpp natively (a segfault in a CPU kernel, such as llama.cpp issue #20824
on AMX CPUs), and a native crash cannot be caught: it would take the window and every unsaved
thing with it. So the first time a model file meets this llama.cpp build on this CPU, a child
loads it and decodes a few tokens. A crash or a hang there becomes a ModelError in the app, and
the verdict is remembered (keyed by the file's contents, the build, the CPU variant and the
CPU), so the check runs once, not at every start.

Run as `python -m app.llm.probe MODEL` (or `hearth --probe-model MODEL` in a frozen app): prints
one JSON line and exits 0 when the model decodes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import ModelError

PROBE_TOKENS = 4
TIMEOUT_S = 120.0  # loading a multi-GB model from a slow disk takes a while; a hang does not end
# Test-only: makes the child crash ("segv") or hang ("hang") once it has loaded the model.
FAULT_ENV = "HEARTH_TEST_PROBE_FAULT"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str  # why it failed, fit for the window and the CLI; "" when ok
    seconds: float
    signal: int | None = None
    checked_at: float = 0.0


_memo: dict[str, ProbeResult] = {}
_memo_lock = threading.Lock()


def fingerprint(path: Path) -> str:
    """A cheap identity of the file's contents (size, head and tail): a copy of the same model
    in another folder is the same model, an edited file is another."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(size - (1 << 20))
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:32]


def cache_key(path: Path) -> str:
    from app.llm import backend

    info = backend.ensure_loaded()
    cpu = backend.cpu_summary()
    where = json.dumps([info.build, info.variant, info.extra_bufts, cpu["model"], cpu["features"]])
    return f"{fingerprint(path)}-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def _cache_file() -> Path:
    from app import paths

    return paths.models_dir() / "probes.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(key: str, result: ProbeResult) -> None:
    from app.atomic import write_text

    with _memo_lock:
        _memo[key] = result
        data = _read_cache()
        data[key] = asdict(result)
        # A read-only folder: the verdict holds for this run only.
        with contextlib.suppress(OSError):
            write_text(_cache_file(), json.dumps(data, indent=1))


def cached(path: Path) -> ProbeResult | None:
    """The remembered verdict for this file on this computer, if there is one."""
    key = cache_key(path)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    entry = _read_cache().get(key)
    if isinstance(entry, dict):
        try:
            result = ProbeResult(**entry)
        except TypeError:
            return None
        with _memo_lock:
            _memo[key] = result
        return result
    return None


def child_command(path: Path) -> list[str]:
    if getattr(sys, "frozen", False):  # the app itself is the interpreter
        return [sys.executable, "--probe-model", str(path)]
    return [sys.executable, "-m", "app.llm.probe", str(path)]


def run_probe(path: Path, timeout: float = TIMEOUT_S) -> ProbeResult:
    """Load and decode in a child; never raises for what the model does."""
    started = time.perf_counter()
    name = path.name
    try:
        done = subprocess.run(
            child_command(path),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONFAULTHANDLER": "0"},
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(
            False,
            f"{name} hangs llama.cpp on this computer (no answer in {timeout:.0f} s during "
            "the first load and decode)",
            time.perf_counter() - started,
        )
    seconds = time.perf_counter() - started
    if done.returncode == 0:
        return ProbeResult(True, "", seconds)
    if done.returncode < 0:
        sig = -done.returncode
        try:
            signame = signal.Signals(sig).name
        except ValueError:
            signame = f"signal {sig}"
        return ProbeResult(
            False,
            f"{name} crashes llama.cpp on this computer ({signame}, signal {sig}, during the "
            "first load and decode)",
            seconds,
            signal=sig,
        )
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit status {done.returncode}"
    reason = reason.removeprefix("error: ")
    return ProbeResult(False, reason, seconds)


def ensure_safe(path: Path, timeout: float = TIMEOUT_S) -> ProbeResult:
    """Raise ModelError if this model crashes, hangs or fails in llama.cpp on this computer;
    the verdict is remembered either way."""
    path = Path(path)
    try:
        result = cached(path)
    except OSError as exc:
        raise ModelError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    if result is None:
        result = run_probe(path, timeout)
        result = ProbeResult(
            result.ok, result.message, result.seconds, result.signal, checked_at=time.time()
        )
        # A vanished file says nothing about the model: only a real verdict is remembered.
        if path.is_file():
            _remember(cache_key(path), result)
    if not result.ok:
        raise ModelError(result.message)
    return result


def forget() -> None:
    """Drop the in-process verdicts (tests; a reinstalled llama.cpp)."""
    with _memo_lock:
        _memo.clear()


def child_main(argv: list[str]) -> int:
    """In the child: load, decode a few tokens, report; a crash here is the point."""
    from app import paths
    from app.privacy import guard

    guard.install()
    paths.set_private_umask()
    if len(argv) != 1:
        print("error: usage: probe MODEL", file=sys.stderr)
        return 2
    model = Path(argv[0])
    from app.llm import backend
    from app.llm.llama_loader import load_llama

    try:
        llama = load_llama(model, n_ctx=256, n_threads=1, probe=False)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    fault = os.environ.get(FAULT_ENV)
    if fault == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "hang":
        time.sleep(3600)
    tokens = llama.tokenize(b"Hello, how are you?", add_bos=True, special=True)
    llama.eval(tokens)
    produced = []
    for _ in range(PROBE_TOKENS):
        token = llama.sample(temp=0.0)
        produced.append(int(token))
        llama.eval([token])
    info = backend.loaded_info()
    print(json.dumps({"ok": True, "tokens": produced, **(info.as_dict() if info else {})}))
    llama.close()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
