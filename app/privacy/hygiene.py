"""What every Hearth process does first: private file modes, and no leftovers of the user's text.

`at_start` sets the umask (new files 0600, folders 0700), re-applies those modes to what is
already there, removes temporary files an interrupted write left behind and the temp folders of
processes that are gone, points this process's temporary files (its own and its libraries') at
a folder of its own under the data folder, removes training job folders whose process is gone
(a job folder holds the training split until it ends), rewrites manifests an older Hearth wrote
with held-back text, and applies the retention rules (then once a day while the process runs).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from app import paths

# Another Hearth process may be writing right now (the window while a command runs): only
# leftovers older than this are someone's interrupted write.
TEMP_MIN_AGE_S = 600.0
# A job folder is created a moment before its process writes its pid file.
JOB_MIN_AGE_S = 120.0
PID_FILE = "child.pid"


@dataclass(frozen=True)
class StartReport:
    modes_fixed: int
    temp_files_removed: int
    job_folders_removed: int
    manifests_scrubbed: int = 0
    retention_deleted: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def is_temp_file(path: Path) -> bool:
    """Atomic writes go through `.NAME.RANDOM.tmp` beside the target (app/atomic.py); a model
    being copied into the models folder is `NAME.part` until it is whole."""
    if path.suffix == ".part" and path.parent.name == "models":
        return True
    return path.name.startswith(".") and path.name.endswith(".tmp")


def clean_temp_files(min_age_s: float = TEMP_MIN_AGE_S) -> int:
    removed = 0
    now = time.time()
    process_temps = paths.data_dir() / "tmp"  # live processes' own: see clean_stale_temp
    for path in list(paths.walk_private()):
        if not is_temp_file(path) or process_temps in path.parents:
            continue
        with contextlib.suppress(OSError):
            if path.is_file() and now - path.stat().st_mtime >= min_age_s:
                path.unlink()
                removed += 1
    return removed


def _started_at(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), where /proc says; None elsewhere."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def temp_owner_alive(folder: Path) -> bool:
    """Whether the process a temp folder is named after still runs and is the one that made
    it (a pid reused by a later process started after the folder's last change)."""
    if not folder.name.isdigit():
        return False
    pid = int(folder.name)
    if pid == os.getpid():
        return True
    from app.adapters.stale_jobs import process_alive

    if not process_alive(pid):
        return False
    started = _started_at(pid)
    # A second of slack: /proc's start time is in clock ticks, mtimes in nanoseconds.
    return started is None or folder.stat().st_mtime >= started - 1.0


def clean_stale_temp(min_age_s: float = TEMP_MIN_AGE_S) -> int:
    """Remove the temp folders of processes that are gone (whatever they held: a crash leaves
    them full) and loose files that nobody is writing; returns how many entries went."""
    folder = paths.data_dir() / "tmp"
    if not folder.is_dir():
        return 0
    removed = 0
    now = time.time()
    for entry in list(folder.iterdir()):
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                if temp_owner_alive(entry):
                    continue
                shutil.rmtree(entry)
            elif now - entry.lstat().st_mtime >= min_age_s:
                entry.unlink()
            else:
                continue
            removed += 1
    return removed


_exit_cleanups: set[str] = set()


def use_private_temp() -> Path:
    """Temporary files of this process (tempfile, and libraries that read TMPDIR) go to a 0700
    folder of its own under the data folder, not the shared /tmp; removed at exit, and by the
    next start if the process died first."""
    folder = paths.temp_dir() / str(os.getpid())
    folder.mkdir(mode=paths.DIR_MODE, exist_ok=True)
    folder.chmod(paths.DIR_MODE)
    for key in ("TMPDIR", "TEMP", "TMP"):
        os.environ[key] = str(folder)
    tempfile.tempdir = str(folder)
    if str(folder) not in _exit_cleanups:
        _exit_cleanups.add(str(folder))
        atexit.register(_remove_own, folder, os.getpid())
    return folder


def _remove_own(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # a forked child that exits normally leaves its parent's folder be
        shutil.rmtree(folder, ignore_errors=True)


def job_is_running(folder: Path) -> bool:
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    from app.adapters.stale_jobs import process_alive

    return process_alive(pid)  # one test of liveness (zombies included) for every job folder


def clean_stale_jobs(min_age_s: float = JOB_MIN_AGE_S) -> int:
    """Remove job folders whose training process is gone (crash, kill, power loss)."""
    jobs = paths.data_dir() / "jobs"
    if not jobs.is_dir():
        return 0
    removed = 0
    now = time.time()
    for folder in jobs.iterdir():
        with contextlib.suppress(OSError):
            if not folder.is_dir():
                folder.unlink()
                removed += 1
                continue
            if job_is_running(folder) or now - folder.stat().st_mtime < min_age_s:
                continue
            shutil.rmtree(folder)
            removed += 1
    return removed


def at_start() -> StartReport:
    """Run once per process before anything is written; never stops Hearth from starting."""
    paths.set_private_umask()
    fixed = temps = jobs = 0
    with contextlib.suppress(OSError):
        fixed = paths.make_private()
    with contextlib.suppress(OSError):
        temps = clean_temp_files()
    with contextlib.suppress(OSError):
        temps += clean_stale_temp()
    with contextlib.suppress(OSError):
        use_private_temp()  # if this fails the system's temp folder stays in use
    with contextlib.suppress(OSError):
        jobs = clean_stale_jobs()
    scrubbed = applied = 0
    # Neither may stop Hearth from starting: opening the database reports its own errors.
    with contextlib.suppress(Exception):
        scrubbed = scrub_old_manifests()
    with contextlib.suppress(Exception):
        from app.privacy import retention

        done = retention.apply_saved()
        applied = 0 if done is None else done.conversations + done.memories
        retention.start_daily()
    return StartReport(fixed, temps, jobs, scrubbed, applied)


def scrub_old_manifests() -> int:
    """Manifests from before they kept only feedback ids held the held-back text: rewrite
    them (files and database) once; returns how many were rewritten."""
    folder = paths.data_dir() / "adapters"
    if not folder.is_dir() or not any(
        '"held_back"' in p.read_text("utf-8", "replace") for p in folder.glob("*.json")
    ):
        return 0
    from app.privacy.controls import scrub_manifests
    from app.store import open_store

    with open_store() as store:
        return len(scrub_manifests(store))
