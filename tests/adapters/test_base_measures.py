"""The base model's measures of the shipped texts, kept between trainings
(app.adapters.base_measures): found again by the next training, measured again when anything
that decides them changes, never kept for the user's own examples, and never trusted when
damaged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.adapters.base_measures import NUMBERS, BaseMeasures
from tests.adapters.conftest import Trained
from tests.adapters.test_torch_scoring import SEQS, tiny

USERS = [([1, 2, 3, 4], [-100, 2, 3, 4])]  # stands for a user's example: never kept


class Counted:
    def __init__(self, value: float) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> float:
        self.calls += 1
        return self.value


def test_a_public_measure_is_kept_for_the_next_training(tmp_path: Path) -> None:
    first = Counted(2.5)
    assert BaseMeasures(tmp_path, [SEQS]).number("torch x", SEQS, first) == 2.5
    later = Counted(9.9)  # the next training, a new process: the kept value, not measured
    assert BaseMeasures(tmp_path, [SEQS]).number("torch x", SEQS, later) == 2.5
    assert (first.calls, later.calls) == (1, 0)


def test_another_engine_or_other_ids_measure_again(tmp_path: Path) -> None:
    kept = BaseMeasures(tmp_path, [SEQS, SEQS[:2]])
    kept.number("torch x threads 2", SEQS, Counted(1.0))
    other_threads, other_ids = Counted(2.0), Counted(3.0)
    assert kept.number("torch x threads 1", SEQS, other_threads) == 2.0
    assert kept.number("torch x threads 2", SEQS[:2], other_ids) == 3.0
    assert (other_threads.calls, other_ids.calls) == (1, 1)


def test_the_users_examples_are_never_kept(tmp_path: Path) -> None:
    kept = BaseMeasures(tmp_path, [SEQS])
    measure = Counted(4.0)
    assert kept.number("torch x", USERS, measure) == 4.0
    assert kept.number("torch x", USERS, measure) == 4.0
    assert measure.calls == 2
    assert not (tmp_path / NUMBERS).exists()
    nowhere = Counted(5.0)  # no cache entry: measured every time, nothing written
    BaseMeasures(None, [SEQS]).number("torch x", SEQS, nowhere)
    BaseMeasures(None, [SEQS]).number("torch x", SEQS, nowhere)
    assert nowhere.calls == 2


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"k": "text"}'])
def test_a_damaged_file_is_measured_again_and_rewritten(tmp_path: Path, damage: bytes) -> None:
    (tmp_path / NUMBERS).write_bytes(damage)
    measure = Counted(1.5)
    assert BaseMeasures(tmp_path, [SEQS]).number("torch x", SEQS, measure) == 1.5
    assert BaseMeasures(tmp_path, [SEQS]).number("torch x", SEQS, Counted(0.0)) == 1.5
    assert measure.calls == 1


def test_tensors_are_kept_exactly_and_replaced_for_another_key(tmp_path: Path) -> None:
    import torch

    states = [torch.randn(5, 8, dtype=torch.bfloat16), torch.randn(3, 8)]
    kept = BaseMeasures(tmp_path, [SEQS])
    assert kept.tensors("anchor", "a", SEQS, lambda: states) is states
    again = BaseMeasures(tmp_path, [SEQS]).tensors("anchor", "a", SEQS, lambda: [])
    assert [t.dtype for t in again] == [torch.bfloat16, torch.float32]
    assert all(torch.equal(a, b) for a, b in zip(again, states, strict=True))
    fresh = [torch.zeros(2, 8)]
    assert kept.tensors("anchor", "b", SEQS, lambda: fresh) is fresh
    (tmp_path / "anchor.pt").write_bytes(b"damaged")
    assert kept.tensors("anchor", "b", SEQS, lambda: fresh) is fresh


def test_the_scorer_keeps_base_measures_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the next training finds is exactly what this one measured; the adapter's own
    measures change with its weights and are never kept."""
    from app.adapters import torch_scoring

    model = tiny("llama")
    measured = torch_scoring.TorchScorer(model)
    measured.use(None)
    base = measured.mean_nll(SEQS)
    first = torch_scoring.TorchScorer(model, BaseMeasures(tmp_path, [SEQS]))
    first.use(None)
    assert first.mean_nll(SEQS) == base
    first.use("adapter")
    with_adapter = first.mean_nll(SEQS)
    assert len(json.loads((tmp_path / NUMBERS).read_text())) == 1  # the base's measure only

    def no_pass(*args: Any) -> tuple[float, int]:
        raise AssertionError("measured again")

    monkeypatch.setattr(torch_scoring, "summed_nll", no_pass)
    second = torch_scoring.TorchScorer(model, BaseMeasures(tmp_path, [SEQS]))
    second.use(None)
    assert second.mean_nll(SEQS) == base
    second.use("adapter")
    with pytest.raises(AssertionError, match="measured again"):
        second.mean_nll(SEQS)
    assert with_adapter != base


def test_a_training_leaves_its_measures_in_the_cache_entry(trained: Trained) -> None:
    from app.adapters import base_cache
    from app.llm.models import packaged_default_model

    entry = trained.home / "data" / "models"
    folders = [p for p in entry.rglob(base_cache.key(packaged_default_model())) if p.is_dir()]
    assert len(folders) == 1
    numbers: dict[str, Any] = json.loads((folders[0] / NUMBERS).read_text())
    assert len(numbers) >= 2  # the neutral texts and the plain answers, at least
    assert all(isinstance(v, float) for v in numbers.values())
    assert (folders[0] / "anchor_states.pt").is_file()


def test_an_entry_removed_meanwhile_is_not_made_again(tmp_path: Path) -> None:
    """The user cleared the base cache during a training: its measures go nowhere, and no
    bare folder is left where the next training writes its whole entry."""
    import torch

    entry = tmp_path / "gone"
    kept = BaseMeasures(entry, [SEQS])
    assert kept.number("torch x", SEQS, Counted(1.0)) == 1.0
    assert len(kept.tensors("anchor", "a", SEQS, lambda: [torch.zeros(1)])) == 1
    assert not entry.exists()


def test_llama_cpp_finds_the_neutral_measure_whatever_the_context_size(tmp_path: Path) -> None:
    """Each training sizes llama.cpp's context to its longest example: the gate's neutral
    measure of the base, registered from the training tokenizer's ids, is still found by the
    next training's scorer, which tokenizes through llama.cpp."""
    from app.adapters import torch_model
    from app.adapters.merge.retention import LlamaTokenizer
    from app.adapters.neutral import neutral_set
    from app.adapters.scoring import LlamaScorer
    from app.llm.models import packaged_default_model

    hf_ids = neutral_set().sequences(
        torch_model.load_base(packaged_default_model()).tokenizer, None
    )
    values = []
    for n_ctx in (256, 1024):
        scorer = LlamaScorer(
            packaged_default_model(), n_ctx=n_ctx, kept=BaseMeasures(tmp_path, [hf_ids])
        )
        try:
            scorer.use(None)
            values.append(
                scorer.mean_nll(neutral_set().sequences(LlamaTokenizer(scorer.llama), None))
            )
        finally:
            scorer.close()
    assert values[0] == values[1]
    assert len(json.loads((tmp_path / NUMBERS).read_text())) == 1  # one entry, found again
