"""Learning work owned by the core: one job at a time (a training or a merge) on a thread of its
own, with its progress, cancel, outcome and listeners.

The Personalization page and the Merge dialog start their work here and only display it, so
closing them never stops it; the window's status bar follows it and says how it ended. Closing
the core cancels a job still running and waits (briefly) for it to stop.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.adapters.train_job import stage_name
from app.cancel import CancelToken
from app.errors import Cancelled, HearthError

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]
Work = Callable[[Progress, CancelToken], Any]
Listener = Callable[["Job"], None]
# A cancelled training stops its process within a few seconds (SIGTERM, then SIGKILL after 10
# s); a merge checks its token between tensors and forward passes.
CLOSE_WAIT_S = 30.0
NAMES = {"training": "a training", "merging": "a merge"}


class Job:
    """One training or merge. Its fields change on the job's thread; listeners read them."""

    def __init__(self, number: int, kind: str, auto: bool) -> None:
        self.number = number
        self.kind = kind  # 'training' or 'merging'
        self.auto = auto  # started by the core itself (automatic training)
        self.token = CancelToken()
        self.state = "running"  # then 'done', 'failed' or 'cancelled'
        self.event: dict[str, Any] = {}  # the last progress event
        self.outcome: Any = None
        self.error: str | None = None
        self.started = time.monotonic()

    @property
    def running(self) -> bool:
        return self.state == "running"

    def status_text(self) -> str:
        return progress_text(self.kind, self.event)

    def end_text(self) -> str:
        return end_text(self)


def progress_text(kind: str, event: dict[str, Any]) -> str:
    """What the status bar says while a job runs: "Learning: step 12 of 40…", "Merging…"."""
    if kind == "merging":
        done, total = event.get("done"), event.get("total")
        if isinstance(done, int) and isinstance(total, int) and total > 0 and done < total:
            return f"Merging: {done * 100 // total}%…"
        return "Merging…"
    name = event.get("event")
    if name == "progress":
        return f"Learning: step {event.get('step')} of {event.get('steps')}…"
    if name == "phase":
        return f"Learning: {stage_name(str(event.get('phase')))}…"
    if name == "done":  # the process has finished; the gate and the activation follow
        return "Learning: checking the new adapter…"
    return "Learning…" if event else "Learning: starting…"


def end_text(job: Job) -> str:
    """The notification when a job ends: the new adapter, or why nothing changed."""
    what = "Training" if job.kind == "training" else "Merge"
    if job.state == "cancelled":
        return f"{what} cancelled; the active adapter is unchanged"
    if job.state == "failed":
        return f"{what} failed: {job.error}"
    outcome = job.outcome
    if job.kind == "merging":
        if getattr(outcome, "passed", False):
            return f"Merged adapter {outcome.adapter_id} is ready to activate"
        return f"Merge not recommended: {getattr(outcome, 'reason', '')}"
    if getattr(outcome, "activated", False):
        consolidation = getattr(outcome, "consolidation", None) or {}
        active = consolidation.get("adapter_id") or outcome.adapter_id
        return f"New adapter active: {outcome.name} (version {active})"
    return f"The new adapter was not activated: {getattr(outcome, 'reason', '')}"


class LearningJobs:
    """Runs at most one learning job; the window, its pages and the CLI go through it."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self._lock = threading.Lock()
        self._job: Job | None = None  # the running job, else the last one
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []
        self._numbers = itertools.count(1)
        self._closed = False
        from app.adapters.auto_train import AutoTrainer

        self.auto = AutoTrainer(self, core)

    # -- listening ---------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """`listener(job)` on start, on each progress event and at the end, on the job's thread."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, job: Job) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(job)
            except Exception as exc:  # a closed window's listener must not stop the job
                log.debug("learning listener failed: %s", exc)

    # -- state -------------------------------------------------------------------------------
    @property
    def current(self) -> Job | None:
        """The running job, or None."""
        job = self._job
        return job if job is not None and job.running else None

    @property
    def last(self) -> Job | None:
        """The running job, else the one that ended last (None before the first)."""
        return self._job

    @property
    def running(self) -> bool:
        return self.current is not None

    # -- starting ----------------------------------------------------------------------------
    def start(self, kind: str, work: Work, *, auto: bool = False) -> Job:
        """Run `work(progress, cancel)` on the job thread; HearthError if a job is running."""
        with self._lock:
            if self._closed:
                raise HearthError("Hearth is closing; nothing new starts")
            running = self._job
            if running is not None and running.running:
                raise HearthError(
                    f"{NAMES.get(running.kind, 'a job')} is already running; wait for it to "
                    "finish or cancel it"
                )
            job = Job(next(self._numbers), kind, auto)
            thread = threading.Thread(
                target=self._run,
                args=(job, work),
                name=f"hearth-learning-{job.number}",
                daemon=True,
            )
            self._job, self._thread = job, thread
        self._notify(job)
        # The training's process is started and waited on by this thread (its parent-death
        # signal follows it); the core cancels and waits for it when it closes (close()), and
        # as a daemon it never keeps a quitting app alive.
        thread.start()
        return job

    def train(self, options: Any = None, *, auto: bool = False) -> Job:
        """Start a training of the adapter service (its default options unless given)."""
        service = self.core.adapters

        def work(progress: Progress, cancel: CancelToken) -> Any:
            return service.train(options, on_progress=progress, cancel=cancel)

        return self.start("training", work, auto=auto)

    def merge(
        self, ids: Sequence[int], method: str, options: Any = None, *, evaluate: bool = True
    ) -> Job:
        """Start a merge of stored versions (consolidate.merge_versions); nothing activates."""
        from app.adapters.consolidate import merge_versions

        service = self.core.adapters
        chosen = list(ids)

        def work(progress: Progress, cancel: CancelToken) -> Any:
            def step(done: int, total: int) -> None:
                progress({"event": "merge", "done": done, "total": total})

            return merge_versions(
                service, chosen, method, options, evaluate=evaluate, progress=step, cancel=cancel
            )

        return self.start("merging", work)

    def _run(self, job: Job, work: Work) -> None:
        def progress(event: dict[str, Any]) -> None:
            job.event = dict(event)
            self._notify(job)

        state, outcome, error = "done", None, None
        try:
            outcome = work(progress, job.token)
        except Cancelled as exc:
            state, error = "cancelled", str(exc)
        except Exception as exc:  # reported to the user by the listeners, never lost
            if job.token.cancelled:
                state, error = "cancelled", str(exc)
            else:
                state, error = "failed", str(exc)
                if isinstance(exc, HearthError):  # the user's situation, told in the notice
                    log.info("learning job %s failed: %s", job.kind, exc)
                else:  # a fault of Hearth's own: its traceback belongs in the log
                    log.exception("learning job %s failed", job.kind)
        with self._lock:
            job.outcome, job.error, job.state = outcome, error, state
        self._notify(job)
        if job.kind == "training":
            self.auto.job_ended(job)

    # -- stopping ----------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Ask the running job to stop (it ends 'cancelled' shortly); False if none runs."""
        job = self.current
        if job is None:
            return False
        job.token.cancel()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job's thread; True when none is left."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Cancel whatever runs and wait for it: the store closes after this."""
        with self._lock:
            self._closed = True
        self.auto.close()
        self.cancel()
        if not self.wait(timeout):
            log.warning("a learning job was still stopping after %.0f s", timeout)
