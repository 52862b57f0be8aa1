"""Training jobs left behind by an app that died: their folders, and any process still in them.

A running job's folder holds `owner.json` (the app's pid and the training process's pid) from
its start to its end. At the next start, a folder whose app is gone is removed, after killing a
training process that still runs in it (stopped by SIGSTOP, it could not notice on its own).
Folders without `owner.json` (finished jobs kept for inspection) are left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
from pathlib import Path

from app import paths

log = logging.getLogger(__name__)
OWNER = "owner.json"


def claim(job_dir: Path, child_pid: int | None = None) -> None:
    """Mark `job_dir` as this app's running job (written again once the process has a pid)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    record = {"app_pid": os.getpid(), "child_pid": child_pid}
    (job_dir / OWNER).write_text(json.dumps(record), encoding="utf-8")


def release(job_dir: Path) -> None:
    """The job has ended (its process is gone): the folder is no longer a running job."""
    with contextlib.suppress(OSError):
        (job_dir / OWNER).unlink()


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process (someone else's counts as alive; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie has exited; only its parent's bookkeeping is left
    return True


def _runs_job(pid: int, job_dir: Path) -> bool:
    """Whether `pid` is still the training process of `job_dir` (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # without /proc the pid cannot be checked, so it is not touched
    runs_job = b"app.adapters.train_job" in cmdline or b"\0--train-job\0" in cmdline  # frozen
    return runs_job and str(job_dir).encode() in cmdline


def clean_stale(jobs: Path | None = None) -> list[Path]:
    """Remove the jobs of apps that are gone; returns the folders removed."""
    jobs = jobs or paths.jobs_dir()
    removed = []
    for job_dir in sorted(jobs.iterdir()) if jobs.is_dir() else []:
        try:
            owner = json.loads((job_dir / OWNER).read_text(encoding="utf-8"))
            app_pid = int(owner["app_pid"])
            child = owner.get("child_pid")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a running job's folder, or one being created right now
        if app_pid == os.getpid() or process_alive(app_pid):
            continue
        if child is not None and process_alive(int(child)) and _runs_job(int(child), job_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)  # also ends a process stopped by SIGSTOP
            log.warning("stopped the training process %s left by a closed app", child)
        shutil.rmtree(job_dir, ignore_errors=True)
        removed.append(job_dir)
    return removed
