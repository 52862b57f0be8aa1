"""A second preference trained on all the stored feedback replaces the preference adapter
instead of being merged into it (rehearsal): merging would count the first preference twice."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from app.adapters.consolidate import consolidate, learnt_from, supersedes
from tests.adapters.conftest import Trained


def personal(service: Any, source: Path, folder: Path, feedback_ids: list[int]) -> int:
    """A registered personal adapter (a real file) that learnt from `feedback_ids`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source.name
    shutil.copy(source, path)
    manifest = {"kind": "personal", "dataset": {"feedback_ids": feedback_ids}}
    return int(service.versions.add(folder.name, path, manifest, status="ready"))


def test_an_adapter_trained_on_all_the_feedback_replaces_the_previous_one(
    core: Any, trained: Trained, tmp_path: Path
) -> None:
    service = core.adapters
    first = personal(service, trained.adapter, tmp_path / "first", [1, 2, 3])
    service.activate(first)
    second = personal(service, trained.adapter, tmp_path / "second", [1, 2, 3, 4, 5])
    before = len(service.versions.list())
    outcome = consolidate(service, second)
    assert outcome.activated and outcome.adapter_id == second and outcome.previous_id == first
    assert "replaces adapter" in outcome.reason
    assert service.versions.active_id() == second
    assert len(service.versions.list()) == before  # nothing merged, no new version


def test_what_each_adapter_learnt_from_decides(core: Any, tmp_path: Path) -> None:
    versions = core.adapters.versions

    def add(manifest: dict[str, Any], parents: list[int] | None = None) -> int:
        return int(versions.add("v", None, manifest, status="ready", parents=parents))

    a = add({"kind": "personal", "dataset": {"feedback_ids": [1, 2]}})
    b = add({"kind": "personal", "dataset": {"feedback_ids": [3]}})
    merged = add({"kind": "merged", "parents": [a, b]}, [a, b])
    imported = add({"kind": "personal", "source": "x.gguf", "dataset": {"feedback_ids": [1]}})
    everything = add({"kind": "personal", "dataset": {"feedback_ids": [1, 2, 3, 4]}})
    assert learnt_from(core.adapters, merged) == {1, 2, 3}
    assert learnt_from(core.adapters, imported) is None
    assert supersedes(core.adapters, everything, merged)
    assert not supersedes(core.adapters, b, a)  # the first preference's feedback is missing
    # Unknown lineage (an imported parent) is merged, never assumed covered.
    with_import = add({"kind": "merged", "parents": [a, imported]}, [a, imported])
    assert not supersedes(core.adapters, everything, with_import)
    damaged = add({"kind": "personal", "dataset": {"feedback_ids": ["one", None]}})
    assert learnt_from(core.adapters, damaged) is None
    assert not supersedes(core.adapters, everything, damaged)
