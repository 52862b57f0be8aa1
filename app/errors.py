"""Errors a user can cause. Each carries a message fit to show in the window and the CLI."""


class HearthError(Exception):
    """Base for errors that end in a clear message, never a traceback."""


class ModelError(HearthError):
    """A model file that cannot be used (not a GGUF, truncated, unsupported architecture)."""


class AdapterError(HearthError):
    """An adapter file that cannot be used with the current base model."""


class StoreError(HearthError):
    """The database cannot be opened or written (full disk, newer schema, corruption)."""


class Cancelled(HearthError):
    """A long job was cancelled by the user."""


def broken_install(exc: ImportError) -> str:
    """The message for a dependency that is missing or fails to import: it names the module,
    so a broken install is never mistaken for a feature that is not there."""
    name = exc.name or "a module"
    return (
        f"Hearth's installation is incomplete or broken: cannot import {name} ({exc}); "
        "reinstall Hearth"
    )
