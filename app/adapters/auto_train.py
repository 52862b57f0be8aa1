"""Automatic training (off by default; the `auto_train` setting): once enough new feedback has
gathered since the last training and the machine is idle, the core starts a training itself.

The decision is pure (`decide`, `new_feedback`), so it is tested without training. `AutoTrainer`
watches for an idle moment after feedback was added, and starts the training through the one
job owner (`jobs.LearningJobs`), which never runs two jobs at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.errors import HearthError

log = logging.getLogger(__name__)
IDLE_S = 120.0  # the user has not typed for this long
CHECK_S = 15.0  # how often the watcher looks again while the machine is busy


@dataclass(frozen=True)
class Conditions:
    enabled: bool
    new_feedback: int  # trainable feedback since the last training
    min_feedback: int
    replying: bool  # a reply is streaming
    job_running: bool  # a training or a merge runs (the user's or an automatic one)
    idle_s: float  # since the user last typed or sent
    load: float | None  # the one-minute load average (None: this system has none)
    cores: int
    newest_id: int = 0  # the newest trainable feedback id counted


def decide(c: Conditions, idle_needed: float = IDLE_S) -> tuple[bool, str]:
    """Whether to start a training now, and why (not)."""
    if not c.enabled:
        return False, "automatic training is off"
    if c.new_feedback < c.min_feedback:
        return False, f"{c.new_feedback} new feedback items of the {c.min_feedback} needed"
    if c.job_running:
        return False, "a training or merge is running"
    if c.replying:
        return False, "a reply is being written"
    if c.idle_s < idle_needed:
        return False, f"the user was active {c.idle_s:.0f} s ago"
    if c.load is not None and c.load >= c.cores:
        return False, f"the machine is busy (load {c.load:.1f} on {c.cores} cores)"
    return True, f"{c.new_feedback} new feedback items and the machine is idle"


def nothing_to_wait_for(c: Conditions) -> bool:
    """No idle moment would start a training: the watcher stops until feedback is added."""
    return not c.enabled or c.new_feedback < c.min_feedback


def last_trained_id(versions: Iterable[Any]) -> int:
    """The newest feedback id the last personal training saw, gated or not (0: none yet)."""
    for version in reversed(list(versions)):
        manifest = version.manifest if isinstance(version.manifest, dict) else {}
        if manifest.get("kind") != "personal":
            continue
        dataset = manifest.get("dataset")
        ids = dataset.get("feedback_ids") if isinstance(dataset, dict) else None
        if isinstance(ids, list):
            return max(
                (i for i in ids if isinstance(i, int) and not isinstance(i, bool)), default=0
            )
        return 0
    return 0


def new_feedback(items: Iterable[Any], since_id: int) -> tuple[int, int]:
    """How many trainable feedback items came after `since_id`, and the newest id among them."""
    ids = [f.id for f in items if f.id > since_id and f.target() is not None]
    return len(ids), max(ids, default=since_id)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none
        return None


class AutoTrainer:
    """Starts a training when `decide` says so; `poke()` after feedback is added."""

    def __init__(
        self, jobs: Any, core: Any, *, idle_s: float = IDLE_S, check_s: float = CHECK_S
    ) -> None:
        self.jobs = jobs
        self.core = core
        self.idle_s = idle_s
        self.check_s = check_s
        self.last_reason = ""
        self._activity = time.monotonic()
        # Feedback up to this id was tried automatically in this session: a training that
        # failed or was cancelled is not started again until more feedback has gathered.
        self._floor = 0
        self._tried = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note_activity(self) -> None:
        """The user typed or sent something: the machine is not idle."""
        self._activity = time.monotonic()

    def enabled(self) -> bool:
        return bool(getattr(self.core.settings, "auto_train", False))

    def conditions(self) -> Conditions:
        service = self.core.adapters
        since = max(last_trained_id(service.versions.list()), self._floor)
        count, newest = new_feedback(service.feedback.list(), since)
        return Conditions(
            enabled=self.enabled(),
            new_feedback=count,
            min_feedback=int(getattr(self.core.settings, "auto_train_min_feedback", 20)),
            replying=bool(getattr(self.core.engine, "busy", False)),
            job_running=self.jobs.running,
            idle_s=time.monotonic() - self._activity,
            load=load_average(),
            cores=os.cpu_count() or 1,
            newest_id=newest,
        )

    def check(self, conditions: Conditions | None = None) -> bool:
        """Start an automatic training if every condition holds; True if one started."""
        c = conditions or self.conditions()
        go, self.last_reason = decide(c, self.idle_s)
        if not go:
            return False
        self._tried = c.newest_id  # before starting: a quick failure reads it (job_ended)
        try:
            self.jobs.train(auto=True)
        except HearthError as exc:  # the user's own training or merge started first
            self.last_reason = str(exc)
            return False
        log.info("automatic training started: %s", self.last_reason)
        return True

    def job_ended(self, job: Any) -> None:
        if job.auto:
            self._floor = max(self._floor, self._tried)

    # -- watching for an idle moment ---------------------------------------------------------
    def poke(self) -> None:
        """Feedback was added (or the window opened): train at the next idle moment if due."""
        if self._stop.is_set() or not self.enabled():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._watch, name="hearth-auto-train", daemon=True
            )
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                c = self.conditions()
                if nothing_to_wait_for(c) or self.check(c):
                    return
            except Exception as exc:  # the store closing under it, a damaged manifest
                log.warning("automatic training check failed: %s", exc)
                return
            self._stop.wait(self.check_s)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
