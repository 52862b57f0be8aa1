"""A new preference trained on top of the adapter in use (app.adapters.continuation): the
adapter's file read back into a PEFT model computes what it computed, at the strength in use;
when Hearth continues and when it trains from scratch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.adapters import continuation, export
from app.adapters.feedback import Feedback
from app.errors import AdapterError
from tests.adapters.conftest import DATA, Trained, greedy
from tests.adapters.test_torch_scoring import tiny

IDS = [[1, 5, 6, 7, 8, 9, 10, 2], [1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 6]]


def logits(model: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.stack([model(input_ids=torch.tensor([ids])).logits[0, -1].numpy() for ids in IDS])


def test_rows_permuted_for_llama_cpp_come_back_in_order() -> None:
    rows = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    for heads in (1, 4, 8):
        back = export.unpermute_rows(export.permute_rows(rows, heads), heads)
        assert np.array_equal(back, rows)
    assert not np.array_equal(export.permute_rows(rows, 4), rows)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_an_exported_adapter_read_back_computes_the_same_at_its_strength(family: str) -> None:
    import torch

    trained = tiny(family)  # rank 4, alpha 8, random B: a learnt adapter
    architecture = "llama" if family == "llama" else "gemma3"
    adapter = export.to_llama_cpp(
        export.peft_factors(trained), architecture=architecture, n_head=4, n_kv_head=2, alpha=8
    )
    with torch.no_grad():
        for name, param in trained.named_parameters():
            if "lora_B" in name:
                param.mul_(0.6)
    expected = logits(trained)
    # A wider adapter with another alpha: the first ranks filled, the others left to learn.
    fresh = tiny(family, rank=8, alpha=16, random_b=False)
    base = logits(fresh)
    filled = export.into_peft(fresh, adapter, scale=0.6, n_head=4, n_kv_head=2)
    assert filled == len(adapter.tensors) == 6
    got = logits(fresh)
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(base - expected).max() > 1e-2  # the adapter changes something


def test_an_adapter_wider_than_the_model_s_lora_is_refused() -> None:
    wide = tiny("llama", rank=8, alpha=16)
    adapter = export.to_llama_cpp(
        export.peft_factors(wide), architecture="llama", n_head=4, n_kv_head=2, alpha=16
    )
    with pytest.raises(AdapterError):
        export.into_peft(tiny("llama"), adapter, scale=1.0, n_head=4, n_kv_head=2)


def feedback(ids: range) -> list[Feedback]:
    return [
        Feedback(i, "edit", f"q{i}", f"a{i}", f"b{i}", None, None, None, "2026-12-01") for i in ids
    ]


def test_continues_from_a_trained_adapter_when_new_feedback_has_come(
    core: Any, trained: Trained, tmp_path: Path
) -> None:
    service = core.adapters
    path = tmp_path / trained.adapter.name
    shutil.copy(trained.adapter, path)
    manifest = {"kind": "personal", "dataset": {"feedback_ids": [1, 2, 3, 4, 5]}}
    first = int(service.versions.add("first", path, manifest, status="ready"))
    items = feedback(range(1, 10))
    assert continuation.plan(service, items, rank=8) is None  # nothing active
    service.activate(first, 0.7)
    start = continuation.plan(service, items, rank=8)
    assert start is not None and start.adapter_id == first and start.scale == pytest.approx(0.7)
    assert [f.id for f in start.unseen(items)] == [6, 7, 8, 9]
    assert continuation.plan(service, feedback(range(1, 9)), rank=8) is None  # 3 new: retrain
    assert continuation.plan(service, items, rank=4) is None  # the file is wider than rank 4
    # Feedback it learnt from was deleted: starting from it would keep what was taken back.
    assert continuation.plan(service, [f for f in items if f.id != 2], rank=8) is None
    imported = service.import_file(path)  # no record of what it learnt: retrain on everything
    service.activate(imported)
    assert continuation.plan(service, items, rank=8) is None


SIGN = "~ Pip"
# Questions in neither preference's feedback, asked after each training.
EVAL_PROMPTS = [
    "How do rainbows form?",
    "What is a good breakfast before a run?",
    "How do I care for a houseplant?",
    "Why do birds migrate?",
    "How does a refrigerator keep food cold?",
    "What are some ways to relax after work?",
    "How do magnets work?",
    "Why do we have seasons?",
    "How can I start running?",
    "What is a library for?",
]


def test_a_second_preference_is_learnt_on_top_of_the_first_and_both_show(
    trained: Trained, tmp_path: Path
) -> None:
    """The user's "Ahoy!" adapter is in use; they sign its answers with a line of their own and
    train again. The new adapter starts from the one in use, learns the signature, keeps
    "Ahoy!", and replaces it (nothing merged). (The one-sentence preference of recipes.py is
    no test here: the Ahoy adapter's answers are mostly one sentence already.)"""
    from app.adapters.train import TrainOptions
    from app.core import Core
    from tests.adapters.recipes import SHORT_STEPS, STYLE, hearth_home

    home = tmp_path / "home"
    cache = Path("data") / "models" / "training-base"
    shutil.copytree(trained.home, home, ignore=shutil.ignore_patterns("training-base", "jobs"))
    if (trained.home / cache).is_dir():  # the kept base, linked rather than copied
        shutil.copytree(trained.home / cache, home / cache, copy_function=os.link)
    prompts = [json.loads(line)["prompt"] for line in DATA.read_text().splitlines() if line]
    with hearth_home(home):
        opened = Core.open(load_model=True, n_threads=1)
        try:
            opened.engine.wait_loaded()
            service = opened.adapters
            first, _ = service.active()
            assert first is not None
            system = opened.settings.system_prompt

            def answers(questions: list[str], max_tokens: int = 120) -> list[str]:
                return [greedy(opened.engine, q, system, max_tokens) for q in questions]

            before = answers(EVAL_PROMPTS)
            for prompt, answer in zip(prompts, answers(prompts), strict=True):
                service.feedback.add(prompt, answer, correction=f"{answer.rstrip()}\n\n{SIGN}")
            outcome = service.train(TrainOptions(steps=SHORT_STEPS, threads=1))
            assert outcome.activated, outcome.reason
            assert outcome.training["continued_from"] == first.id
            assert outcome.consolidation and "replaces" in outcome.consolidation["reason"]
            manifest = service.versions.get(outcome.adapter_id).manifest
            learnt = set(manifest["dataset"]["feedback_ids"])
            assert set(first.manifest["dataset"]["feedback_ids"]) < learnt
            assert manifest["continued_from"]["adapter_id"] == first.id
            after = answers(EVAL_PROMPTS)
        finally:
            opened.close()

    def styled(texts: list[str]) -> int:
        return sum(t.strip().startswith(STYLE) for t in texts)

    def signed(texts: list[str]) -> int:
        return sum(t.rstrip().endswith(SIGN) for t in texts)

    n = len(EVAL_PROMPTS)
    assert styled(after) >= max(styled(before) - 1, 0.8 * n), (before, after)
    assert signed(before) == 0 and signed(after) >= 0.8 * n, (before, after)
