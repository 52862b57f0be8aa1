"""A real adapter, trained once per session through AdapterService on the default model.

The feedback (`data/ahoy_style.jsonl`) is the base model's own answers with one change the user
"asked for": every answer starts with "Ahoy!" (the recipe is in `recipes.py`). Tests copy the
trained file into their own HEARTH_HOME; nothing here is shared through the user's folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.recipes import DATA, STEPS, STYLE, train_ahoy

__all__ = ["DATA", "STEPS", "STYLE", "Trained", "greedy"]


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
    home = tmp_path_factory.mktemp("trained-home")
    ahoy = train_ahoy(home)
    job_dir = home / "data" / "jobs" / ahoy.outcome.name
    yield Trained(home, ahoy.outcome, ahoy.adapter, job_dir, ahoy.held_prompts, ahoy.base_model)


def greedy(engine: Any, prompt: str, system: str, max_tokens: int = 8) -> str:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    return engine.generate_text(messages, max_tokens=max_tokens, temperature=0.0, seed=0)


@pytest.fixture
def core() -> Iterator[Any]:
    """A core on the test's HEARTH_HOME without a loaded model (adapters, merges, pages)."""
    from app.core import Core

    opened = Core.open(load_model=False)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def base(default_model: Path) -> Any:
    """The default model's architecture and tensor shapes, as adapters are checked against."""
    from app.adapters.lora_file import base_model_info

    return base_model_info(default_model)


@pytest.fixture(scope="module")
def logits(default_model: Path) -> Iterator[Any]:
    """A llama.cpp session on the default model that returns next-token logits."""
    from tests.adapters.test_merge_helpers import logits_session

    yield from logits_session(default_model)
