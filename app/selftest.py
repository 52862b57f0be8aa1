"""`hearth --self-test`: does this install work, end to end, on this computer, offline?

Everything runs in a temporary home (the user's own data is never opened): the database is
written and read back, the default model is loaded (its first-run check runs in a child
process, as on a user's first launch) and streams a few tokens, a memory is embedded and
recalled, and the training process is started and stopped before it trains. One line per check;
exit status 0 when every check passed, 1 otherwise, with what failed named. No Qt is imported,
so it runs on a machine without a display.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOKENS = 8
TRAIN_START_TIMEOUT_S = 120.0  # the training process reaches its first stage in seconds
FACT = "My sister is called Ana and she lives in Lisbon."
QUESTION = "Where does my sister live?"


class Checks:
    """Runs named checks in order; a failed check is reported and the rest still run."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.failed: list[str] = []
        self.passed: list[str] = []

    def run(self, name: str, fn: Callable[[], str]) -> bool:
        started = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:
            self.failed.append(name)
            reason = str(exc) or type(exc).__name__
            self._line("FAIL", name, f"{reason} ({type(exc).__name__})", started)
            if os.environ.get("HEARTH_SELF_TEST_TRACE"):
                traceback.print_exc(file=self.out)
            return False
        self.passed.append(name)
        self._line("ok", name, detail, started)
        return True

    def _line(self, status: str, name: str, detail: str, started: float) -> None:
        seconds = time.perf_counter() - started
        print(f"{status:4} {name:10} {detail} [{seconds:.1f} s]", file=self.out, flush=True)


@contextmanager
def temporary_home() -> Iterator[Path]:
    """HEARTH_HOME points at a fresh folder for the duration; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hearth-self-test-"))
    before = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = before
        shutil.rmtree(folder, ignore_errors=True)


def check_database() -> str:
    """A conversation written, the file closed, reopened and read back."""
    from app.conversations import Conversations
    from app.store import open_store

    title = "self-test conversation"
    with open_store() as store:
        conversations = Conversations(store)
        cid = conversations.create(title)
        conversations.add_message(cid, "user", "hello")
        path, version = store.path, store.schema_version()
    with open_store() as store:
        found = Conversations(store).get(cid)
        messages = Conversations(store).messages(cid)
    if found is None or found.title != title or [m.content for m in messages] != ["hello"]:
        raise RuntimeError("the conversation written was not read back")
    return f"{path.name} schema {version}: written, reopened, read back"


def check_model(engine: Any) -> str:
    """The packaged default model: copied into the home, checked in a child, loaded, streamed."""
    from app.llm import backend
    from app.llm.models import ModelManager
    from app.store import open_store

    with open_store() as store:
        record = ModelManager(store).ensure_default()
    info = engine.load(record.path).result()
    chunks = list(
        engine.chat(
            [{"role": "user", "content": "Say hello."}],
            max_tokens=TOKENS,
            temperature=0.0,
        )
    )
    text = "".join(chunks).strip()
    if not chunks or not text:
        raise RuntimeError("the model loaded but streamed no text")
    variant = getattr(backend.loaded_info(), "variant", "?")
    name = getattr(info, "name", record.name)
    return f"{name}, CPU variant {variant}: streamed {len(chunks)} chunks: {text[:40]!r}"


def check_memory() -> str:
    """A fact embedded with the packaged embedding model, then recalled by a question."""
    from app.memory.service import MemoryService
    from app.store import open_store

    with open_store() as store:
        memory = MemoryService(store, engine=None, use_model=False)
        try:
            memory.embedder.load_async().result()
            change = memory.add(FACT)
            recalled = memory.recall(QUESTION)
            memory.flush_index()
        finally:
            memory.close()
    texts = [getattr(r, "text", "") for r in recalled]
    if FACT not in texts:
        raise RuntimeError(f"the memory was stored ({change}) but not recalled: {texts}")
    return f"embedded and recalled ({len(texts)} recalled)"


def check_training(model: Path) -> str:
    """The training process starts (through the app itself when frozen) and is stopped as soon
    as it reports its first stage: nothing is trained."""
    from app import paths
    from app.adapters.dataset import Example, Split
    from app.adapters.train import TrainingJob, TrainOptions
    from app.cancel import CancelToken
    from app.errors import Cancelled

    example = Example(prompt="Say hello.", target="Hello!")
    out_dir = paths.jobs_dir() / "self-test"
    spec: dict[str, Any] = {
        "name": "self-test",
        "base_model": str(model),
        "out_dir": str(out_dir),
        "split": Split(train=[example], held=[]).to_dict(),
        "options": TrainOptions(steps=1, threads=1).to_dict(),
        "parent_pid": os.getpid(),
    }
    token = CancelToken()
    stages: list[str] = []

    def on_progress(event: dict[str, Any]) -> None:
        if event.get("event") == "phase":
            stages.append(str(event.get("phase")))
            token.cancel()  # the first stage is proof enough that the process runs

    timer = threading.Timer(TRAIN_START_TIMEOUT_S, token.cancel)
    job = TrainingJob(spec, on_progress)
    job.start()
    timer.start()
    try:
        job.wait(token)
    except Cancelled:
        pass
    finally:
        timer.cancel()
        job.cancel()
        shutil.rmtree(out_dir, ignore_errors=True)
    if not stages:
        raise RuntimeError(
            f"the training process reported no stage in {TRAIN_START_TIMEOUT_S:.0f} s "
            f"(exit code {job.process.returncode if job.process else None})"
        )
    code = job.process.returncode if job.process else None
    return f"started (pid {job.pid}), reached {stages[0]!r}, stopped (exit {code})"


def run(out: Any = None) -> int:
    """All checks in a temporary home; 0 when every one passed."""
    from app import paths
    from app.privacy import guard

    checks = Checks(out)
    started = time.perf_counter()
    print(
        f"Hearth self-test ({'bundle' if getattr(sys, 'frozen', False) else 'source'})",
        file=checks.out,
    )
    with temporary_home() as home:
        guard.install()  # offline and guarded, as the app runs
        previous = paths.set_private_umask()
        from app.llm.engine import Engine

        engine = Engine(n_threads=int(os.environ.get("HEARTH_THREADS", "1") or 1), n_ctx=512)
        try:
            checks.run("database", check_database)
            checks.run("model", lambda: check_model(engine))
            checks.run("memory", check_memory)
            model = paths.models_dir()
            ggufs = sorted(model.glob("*.gguf"))
            checks.run(
                "training",
                lambda: check_training(ggufs[0] if ggufs else model / "missing.gguf"),
            )
        finally:
            engine.close()
            os.umask(previous)
        del home
    seconds = time.perf_counter() - started
    if checks.failed:
        print(f"self-test failed: {', '.join(checks.failed)} [{seconds:.1f} s]", file=checks.out)
        return 1
    print(f"self-test passed: {len(checks.passed)} checks [{seconds:.1f} s]", file=checks.out)
    return 0


def decode_speed(tokens: int) -> dict[str, Any]:
    """Raw decode speed of the packaged default model (greedy, `HEARTH_THREADS` threads, 1 by
    default): the same loop in a bundle and in a source checkout, so the two compare."""
    from app.llm import backend
    from app.llm.llama_loader import load_llama
    from app.llm.models import packaged_default_model

    threads = int(os.environ.get("HEARTH_THREADS", "1") or 1)
    llama = load_llama(packaged_default_model(), n_ctx=512, n_threads=threads, probe=False)
    try:
        llama.eval(llama.tokenize(b"Write a short paragraph about autumn.", add_bos=True))
        started = time.perf_counter()
        for _ in range(tokens):
            llama.eval([llama.sample(temp=0.0)])
        seconds = time.perf_counter() - started
    finally:
        llama.close()
    info = backend.loaded_info()
    return {
        "tok_s": round(tokens / seconds, 3),
        "tokens": tokens,
        "threads": threads,
        "variant": info.variant if info else "unknown",
        "frozen": bool(getattr(sys, "frozen", False)),
    }


def main(argv: list[str]) -> int:
    """`--self-test`, or `--self-test --decode N` (one JSON line: decode speed, for benchmarks)."""
    if argv[:1] == ["--decode"] and len(argv) == 2 and argv[1].isdigit() and int(argv[1]) > 0:
        import json

        print(json.dumps(decode_speed(int(argv[1]))))
        return 0
    if argv:
        print("error: usage: hearth --self-test [--decode TOKENS]", file=sys.stderr)
        return 2
    return run()
