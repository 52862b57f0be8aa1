"""A real adapter, trained once per session through AdapterService on the default model.

The feedback (`data/ahoy_style.jsonl`) is the base model's own answers with one change the user
"asked for": every answer starts with "Ahoy!". Tests copy the trained file into their own
HEARTH_HOME; nothing here is shared through the user's folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data" / "ahoy_style.jsonl"
STEPS = 24
STYLE = "Ahoy"


@dataclass(frozen=True)
class Trained:
    home: Path
    outcome: Any  # app.adapters.service.TrainOutcome
    adapter: Path
    job_dir: Path
    held_prompts: list[str]
    base_model: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    from app.adapters.train import TrainOptions
    from app.core import Core

    home = tmp_path_factory.mktemp("trained-home")
    previous = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        core = Core.open(load_model=False)
        try:
            service = core.adapters
            service.feedback.import_jsonl(DATA)
            outcome = service.train(TrainOptions(steps=STEPS, threads=1, keep_arrays=True))
            version = service.versions.get(outcome.adapter_id)
            held = [e["prompt"] for e in version.manifest["dataset"]["held_back"]]
            base_model = service.base_model().path
        finally:
            core.close()
    finally:
        if previous is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = previous
    assert version.path is not None, outcome.reason
    yield Trained(
        home, outcome, version.path, home / "data" / "jobs" / outcome.name, held, base_model
    )


def greedy(engine: Any, prompt: str, system: str, max_tokens: int = 8) -> str:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    return engine.generate_text(messages, max_tokens=max_tokens, temperature=0.0, seed=0)
