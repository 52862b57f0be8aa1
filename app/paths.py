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


def data_dir() -> Path:
    root = home()
    if root is not None:
        return _ensure(root / "data")
    import platformdirs

    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def config_dir() -> Path:
    root = home()
    if root is not None:
        return _ensure(root / "config")
    import platformdirs

    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def logs_dir() -> Path:
    root = home()
    if root is not None:
        return _ensure(root / "logs")
    import platformdirs

    return _ensure(Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)))


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
