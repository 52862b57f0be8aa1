"""The gate and the refusal path of AdapterService, on the session's real adapter file.

The job's result is edited to inject the failure (a parity miss, a harmful adapter); the
registry, the files on disk and the active pointer are the real ones.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from app import paths
from app.adapters import dataset, evaluate
from app.adapters.train import TrainOptions
from app.core import Core
from tests.adapters.conftest import Trained

GOOD = {
    "held_nll_base": 1.6,
    "held_nll_adapter": 1.1,
    "neutral_ppl_base": 20.0,
    "neutral_ppl_adapter": 20.5,
    "neutral_ppl_ratio": 1.025,
}


def test_gate_rules() -> None:
    assert evaluate.gate(GOOD)[0]
    worse = {**GOOD, "held_nll_adapter": 1.7}
    assert not evaluate.gate(worse)[0]
    assert "does not improve" in evaluate.gate(worse)[1]
    harmful = {**GOOD, "neutral_ppl_adapter": 21.2, "neutral_ppl_ratio": 1.06}
    passed, reason = evaluate.gate(harmful)
    assert not passed and "more than 5%" in reason and "+6.0%" in reason
    assert not evaluate.gate({})[0]


def _job(trained: Trained, tmp_path: Path, **changes: object) -> tuple[Path, dict]:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    shutil.copy(trained.adapter, job_dir / "adapter.gguf")
    manifest = json.loads(trained.adapter.with_suffix(".json").read_text())
    result = {
        "architecture": "llama",
        "rank": 8,
        "alpha": 16.0,
        "targets": manifest["targets"],
        "training": manifest["training"],
        "parity": copy.deepcopy(manifest["parity"]),
        "evaluation": dict(GOOD),
        "export_s": 1.0,
    }
    for key, value in changes.items():
        result[key] = value
    return job_dir, result


def _register(core: Core, job_dir: Path, result: dict):
    split = dataset.Split([dataset.Example("p", "t", 1)], [])
    base = core.adapters.base_model()
    return core.adapters._register("personal-x", job_dir, result, split, base, TrainOptions())


def test_parity_failure_is_refused_and_changes_nothing(
    core: Core, trained: Trained, tmp_path: Path
) -> None:
    parity = {**trained.outcome.parity, "passed": False, "reason": "correlates 0.41"}
    job_dir, result = _job(trained, tmp_path, parity=parity)
    outcome = _register(core, job_dir, result)
    assert outcome.status == "refused" and not outcome.activated
    assert "correlates 0.41" in outcome.reason
    assert core.adapters.versions.get(outcome.adapter_id).path is None
    assert list(paths.adapters_dir().glob("*.gguf")) == []
    assert core.adapters.versions.active_id() is None


def test_harmful_adapter_is_kept_but_not_activated(
    core: Core, trained: Trained, tmp_path: Path
) -> None:
    harmful = {**GOOD, "neutral_ppl_adapter": 30.0, "neutral_ppl_ratio": 1.5}
    job_dir, result = _job(trained, tmp_path, evaluation=harmful)
    outcome = _register(core, job_dir, result)
    assert outcome.status == "rejected" and not outcome.activated
    version = core.adapters.versions.get(outcome.adapter_id)
    assert version.path is not None and version.path.is_file()
    assert version.manifest["gate"]["passed"] is False
    assert core.adapters.versions.active_id() is None
    # The user may still choose it: the figures were shown, the choice is theirs.
    core.adapters.activate(outcome.adapter_id)
    assert core.adapters.versions.active_id() == outcome.adapter_id


def test_passing_adapter_is_activated(core: Core, trained: Trained, tmp_path: Path) -> None:
    job_dir, result = _job(trained, tmp_path)
    outcome = _register(core, job_dir, result)
    assert outcome.status == "ready" and outcome.activated
    assert core.adapters.versions.active_id() == outcome.adapter_id
