"""Every on-disk location Hearth uses; nothing else in the code builds a user path.

`HEARTH_HOME` puts all of it under one folder (tests point it at a temporary directory).
Everything Hearth writes is private to the OS user: folders 0700, files 0600 (`PRIVATE_UMASK`
for new files, `make_private` for ones written before).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

APP_NAME = "Hearth"
PRIVATE_UMASK = 0o077  # new files 0600, new folders 0700
DIR_MODE = 0o700
FILE_MODE = 0o600


def home() -> Path | None:
    """The single folder that holds everything, when `HEARTH_HOME` is set."""
    value = os.environ.get("HEARTH_HOME")
    return Path(value).expanduser().resolve() if value else None


def _ensure(path: Path) -> Path:
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            path.chmod(DIR_MODE)  # mkdir's mode is cut by the umask of a process started elsewhere
    return path


def set_private_umask() -> int:
    """Every file this process creates from now on (SQLite's WAL, llama.cpp's, torch's) is
    the user's alone; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_roots() -> list[Path]:
    """The folders that hold the user's data (data, config, logs), each once."""
    folders = list(dict.fromkeys((data_dir(), config_dir(), logs_dir())))
    # On macOS config and data share one folder; a root inside another is walked once.
    return [f for f in folders if not any(o in f.parents for o in folders)]


def walk_private() -> Iterator[Path]:
    """Every folder and file under the private roots (links are not followed)."""
    for root in private_roots():
        yield root
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                yield Path(folder) / name


def make_private() -> int:
    """chmod 0700/0600 whatever was written before (an older version, another umask);
    returns how many modes changed."""
    changed = 0
    for path in walk_private():
        with contextlib.suppress(OSError):
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            want = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
            if stat.S_IMODE(info.st_mode) != want:
                path.chmod(want)
                changed += 1
    return changed


def _user_dir(sub: str, platform_dir: str) -> Path:
    """`HEARTH_HOME/sub` when set, else the platform's folder for this kind of data."""
    root = home()
    if root is not None:
        return _ensure(root / sub)
    import platformdirs

    return _ensure(Path(getattr(platformdirs, platform_dir)(APP_NAME, appauthor=False)))


def data_dir() -> Path:
    return _user_dir("data", "user_data_dir")


def config_dir() -> Path:
    return _user_dir("config", "user_config_dir")


def logs_dir() -> Path:
    return _user_dir("logs", "user_log_dir")


def db_path() -> Path:
    return data_dir() / "hearth.db"


def models_dir() -> Path:
    return _ensure(data_dir() / "models")


def training_base_dir() -> Path:
    """The base model dequantised for training, kept for the next training
    (app.adapters.base_cache); inside the models folder, and deleted with it."""
    return models_dir() / "training-base"


def adapters_dir() -> Path:
    return _ensure(data_dir() / "adapters")


def index_dir() -> Path:
    return _ensure(data_dir() / "index")


def exports_dir() -> Path:
    return _ensure(data_dir() / "exports")


def jobs_dir() -> Path:
    """Scratch space for background jobs (training runs); safe to delete when none runs."""
    return _ensure(data_dir() / "jobs")


def temp_dir() -> Path:
    """Temporary files of Hearth's processes and their libraries (one folder per process), kept
    inside the private data folder instead of the shared /tmp; emptied at start-up."""
    return _ensure(data_dir() / "tmp")


def settings_file() -> Path:
    return config_dir() / "settings.json"


def all_locations() -> dict[str, Path]:
    """Named locations, for the doctor and the privacy inventory."""
    return {
        "database": db_path(),
        "models": models_dir(),
        "adapters": adapters_dir(),
        "index": index_dir(),
        "exports": exports_dir(),
        "jobs": jobs_dir(),
        "settings": settings_file(),
        "logs": logs_dir(),
    }
