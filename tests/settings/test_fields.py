"""Settings: each value checked with a reason, hand-edited files cleaned, the version kept."""

from __future__ import annotations

import json

import pytest

from app import paths
from app.settings import SCHEMA_VERSION, Settings, load_settings, save_settings
from app.settings.fields import SettingError, apply, parse


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("temperature", "2.5", "between 0 and 2"),
        ("top-p", "0", "between 0.01 and 1"),
        ("top_k", "-1", "between 0 and 1000"),
        ("context-tokens", "100", "between 512"),
        ("threads", "100000", "cores"),
        ("theme", "purple", "system, light, dark"),
        ("max-tokens", "lots", "not a whole number"),
        ("memory-enabled", "maybe", "not on or off"),
        ("colour", "red", "no setting"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(name: str, text: str, reason: str) -> None:
    with pytest.raises(SettingError, match=reason):
        parse(name, text)


def test_valid_values_parse_to_their_types() -> None:
    assert parse("temperature", "0") == 0.0
    assert parse("top-k", "0") == 0
    assert parse("memory-enabled", "off") is False
    assert parse("theme", "dark") == "dark"


def test_apply_changes_all_or_nothing() -> None:
    settings = Settings()
    with pytest.raises(SettingError):
        apply(settings, {"temperature": 0.2, "top_p": 5.0})
    assert settings.temperature == 0.7  # nothing changed
    assert apply(settings, {"temperature": 0.2, "context_tokens": 4096}) == ["temperature"]


def test_a_hand_edited_file_with_wrong_types_loads_with_defaults_for_those() -> None:
    path = paths.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "temperature": "hot",
                "top_k": 5,
                "max_tokens": True,
                "theme": 3,
                "future_key": [1, 2],
            }
        )
    )
    settings = load_settings()
    assert settings.temperature == Settings().temperature
    assert settings.max_tokens == Settings().max_tokens and settings.theme == "system"
    assert settings.top_k == 5
    assert settings.schema_version == SCHEMA_VERSION == 2
    save_settings(settings)
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == 2 and saved["future_key"] == [1, 2]  # kept, at the top


def test_a_file_from_a_newer_version_keeps_its_version() -> None:
    path = paths.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema_version": 9, "temperature": 0.3, "new_thing": 1}))
    settings = load_settings()
    assert settings.temperature == 0.3 and settings.schema_version == 9
    save_settings(settings)
    assert json.loads(path.read_text())["schema_version"] == 9
