"""The adapter registry: pointer, history, rollback, and falling back from a broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.versions import Versions
from app.errors import AdapterError, HearthError
from app.store import open_store


@pytest.fixture
def versions():
    with open_store() as store:
        yield Versions(store)


def _file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.gguf"
    path.write_bytes(b"GGUF" + name.encode())
    return path


def test_activate_rollback_and_scale(versions: Versions, tmp_path: Path) -> None:
    a = versions.add("a", _file(tmp_path, "a"), {"base": {"sha256": "x"}})
    b = versions.add("b", _file(tmp_path, "b"), {})
    assert versions.active() is None
    versions.activate(a, 0.5)
    versions.activate(b)
    assert versions.active_id() == b and versions.scale() == 0.5
    assert versions.rollback().id == a  # type: ignore[union-attr]
    assert versions.rollback() is None  # back to the base model
    versions.set_scale(1.5)
    assert versions.scale() == 1.5
    with pytest.raises(HearthError):
        versions.set_scale(7)
    assert versions.get(a).base_sha256 == "x"


def test_refused_versions_cannot_be_activated(versions: Versions) -> None:
    refused = versions.add("r", None, {}, status="refused")
    with pytest.raises(AdapterError, match="cannot be activated"):
        versions.activate(refused)


def test_missing_active_file_falls_back_to_last_good(versions: Versions, tmp_path: Path) -> None:
    good = versions.add("good", _file(tmp_path, "good"), {})
    bad_path = _file(tmp_path, "bad")
    bad = versions.add("bad", bad_path, {})
    versions.activate(good)
    versions.activate(bad)
    bad_path.unlink()
    version, message = versions.resolve_active()
    assert version is not None and version.id == good
    assert message is not None and "missing or damaged" in message and "went back" in message
    assert versions.get(bad).status == "missing"
    assert versions.active_id() == good


def test_corrupt_file_found_by_the_check_falls_back_to_base(
    versions: Versions, tmp_path: Path
) -> None:
    only = versions.add("only", _file(tmp_path, "only"), {})
    versions.activate(only)

    def check(path: Path) -> None:
        raise AdapterError(f"{path.name} is truncated")

    version, message = versions.resolve_active(check)
    assert version is None and message is not None and "base model" in message
    assert versions.active_id() is None
