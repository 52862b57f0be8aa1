"""Typed user settings, saved as JSON with a schema version. See `model.Settings`."""

from app.settings.model import SCHEMA_VERSION, Settings, load_settings, save_settings

__all__ = ["SCHEMA_VERSION", "Settings", "load_settings", "save_settings"]
