"""A home that holds what a real session leaves behind, built once per run and copied into
each test's HEARTH_HOME: a chat turn on the real model with memory on, memories in the real
embedder's index, feedback, an export, and (injected) leftovers an older Hearth or a crash
could leave: a job folder with its training split and a manifest with held-back text."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adapters.recipes import hearth_home as home_env

# Strings the user "said": none may be left anywhere after a wipe.
CHAT = "Zorblatina"
REMEMBERED = "Vexillarium"
FEEDBACK = "Quibbleton"
LEFTOVER = "Snorkelwhip"
SECRETS = (CHAT, REMEMBERED, FEEDBACK, LEFTOVER)


def assert_private(home: Path) -> None:
    """Every folder under `home` is 0700 and every file 0600."""
    import os
    import stat

    from app import paths

    loose = {}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            want = paths.DIR_MODE if path.is_dir() else paths.FILE_MODE
            if stat.S_IMODE(path.lstat().st_mode) != want:
                loose[str(path.relative_to(home))] = oct(stat.S_IMODE(path.lstat().st_mode))
    assert not loose, loose


def scan(home: Path, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Every file under `home` that holds any of `needles` (any case), byte for byte."""
    import os

    found: dict[str, list[str]] = {}
    lowered = [n.lower().encode() for n in needles]
    for folder, _dirs, files in os.walk(home):
        for name in files:
            try:
                data = (Path(folder) / name).read_bytes().lower()
            except FileNotFoundError:
                # A temporary file renamed into place while the walk ran (an atomic write of
                # the memory index in the background): its bytes are in the file it became.
                continue
            hits = [n.decode() for n in lowered if n in data]
            if hits:
                found[str(Path(folder, name).relative_to(home))] = hits
    return found


@dataclass(frozen=True)
class Session:
    template: Path
    conversations: int
    messages: int
    memories: int
    feedback: int
    logs: list[str]  # every log record the session emitted, at DEBUG


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log record emitted in the block, at DEBUG, as text (exceptions included)."""
    records = _Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        yield records.lines
    finally:
        root.removeHandler(records)
        root.setLevel(previous)


def _populate(home: Path) -> Session:
    with captured_logs() as lines:
        counts = _chat_remember_and_rate(home)
    return Session(home, counts["conversations"], counts["messages"], counts["memories"],
                   counts["feedback"], lines)  # fmt: skip


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


def _chat_remember_and_rate(home: Path) -> dict[str, int]:
    from app import paths
    from app.core import Core
    from app.privacy.export import export_all
    from app.settings import Settings, save_settings

    with home_env(home):
        save_settings(Settings(max_tokens=16, temperature=0.0, threads=1, memory_enabled=True))
        core = Core.open(load_model=True, n_threads=1)
        try:
            core.engine.wait_loaded()
            conv = core.conversations.create()
            text = f"Remember that my sister is called {CHAT}."
            events = list(core.assistant.send(conv, text))
            assert type(events[-1]).__name__ == "Done", events[-1]
            core.assistant.wait_idle(timeout=120)
            other = core.conversations.create("Plans")
            core.conversations.add_message(other, "user", f"Plan a trip with {CHAT}")
            core.conversations.add_message(other, "assistant", "Sure.")
            core.memory.add(f"My locker code is {REMEMBERED}.")
            core.memory.add("I like green tea.", kind="preference")
            core.memory.flush_index()
            feedback = core.adapters.feedback
            feedback.add(f"Greet {FEEDBACK}", "Hi.", correction=f"Hello dear {FEEDBACK}!")
            feedback.add("Say bye", "Bye.", rating=1)
            feedback.add_statement(f"Call me {FEEDBACK}")
            _leftovers(core)
            export_all(core.store, paths.exports_dir())
            counts = {
                t: int(core.store.scalar(f"SELECT COUNT(*) FROM {t}"))
                for t in ("conversations", "messages", "memories", "feedback")
            }
        finally:
            core.close()
    return counts


def _leftovers(core: object) -> None:
    """What an older Hearth wrote: held-back text in a manifest, a crashed job's split."""
    from app import paths
    from app.adapters.versions import Versions

    store = core.store  # type: ignore[attr-defined]
    manifest = {
        "name": "personal-old",
        "dataset": {"held_back": [{"prompt": f"Ask {LEFTOVER}", "target": "x", "feedback_id": 1}]},
    }
    adapter = paths.adapters_dir() / "personal-old.gguf"
    adapter.write_bytes(b"GGUF-not-really")
    adapter.with_suffix(".json").write_text(json.dumps(manifest))
    Versions(store).add("personal-old", adapter, manifest, status="rejected")
    job = paths.jobs_dir() / "personal-crashed"
    job.mkdir()
    (job / "spec.json").write_text(json.dumps({"split": {"train": [{"prompt": LEFTOVER}]}}))


@pytest.fixture(scope="session")
def session_template(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return _populate(tmp_path_factory.mktemp("privacy-session"))


@pytest.fixture
def session(session_template: Session, hearth_home: Path) -> Iterator[Session]:
    """This test's HEARTH_HOME holds a copy of the session."""
    for part in session_template.template.iterdir():
        shutil.copytree(part, hearth_home / part.name, dirs_exist_ok=True)
    # The crashed job looks old enough to be stale.
    yield session_template
