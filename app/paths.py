"""Every on-disk location Hearth uses; nothing else in the code builds a user path.

`HEARTH_HOME` puts all of it under one folder (tests point it at a temporary directory).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "Hearth"


def home() -> Path | None:
    """The single folder that holds everything, when `HEARTH_HOME` is set."""
    value = os.environ.get("HEARTH_HOME")
    return Path(value).expanduser().resolve() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def adapters_dir() -> Path:
    return _ensure(data_dir() / "adapters")


def index_dir() -> Path:
    return _ensure(data_dir() / "index")


def exports_dir() -> Path:
    return _ensure(data_dir() / "exports")


def jobs_dir() -> Path:
    """Scratch space for background jobs (training runs); safe to delete when none runs."""
    return _ensure(data_dir() / "jobs")


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
