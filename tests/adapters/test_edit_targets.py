"""What an edit teaches: the words the user changed are the targets, the words they kept from
the model's answer are held to the base model's prediction (KL), never learnt by heart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.adapters import dataset
from app.adapters.dataset import IGNORE, KEPT, Example


@pytest.fixture(scope="module")
def tokenizer(default_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model.parent), gguf_file=default_model.name)


ORIGINAL = (
    "Bees collect nectar from flowers and store it in the hive. They fan it with their wings "
    "until most of the water is gone, and then they seal it in wax."
)


def answer_labels(tokenizer: Any, example: Example) -> tuple[list[int], list[int]]:
    ids, labels = dataset.encode(tokenizer, example, "You are Hearth.")
    first = next(i for i, label in enumerate(labels) if label != IGNORE)
    return ids[first:], labels[first:]


def test_an_added_signature_is_the_target_and_the_kept_words_are_not(tokenizer: Any) -> None:
    kept = "Bees collect nectar from flowers and store it in the hive."
    edit = Example("How do bees make honey?", f"{kept}\n\n~ Pip", 1, ORIGINAL)
    ids, labels = answer_labels(tokenizer, edit)
    targets = [i for i, label in zip(ids, labels, strict=True) if label >= 0]
    kept_ids = [i for i, label in zip(ids, labels, strict=True) if label == KEPT]
    assert tokenizer.decode(kept_ids).strip() == kept
    assert "~ Pip" in tokenizer.decode(targets)
    assert labels[-1] == ids[-1] == dataset.end_ids(tokenizer)[0]  # where it ends is taught


def test_an_answer_cut_short_teaches_where_to_stop(tokenizer: Any) -> None:
    edit = Example("How do bees make honey?", ORIGINAL.split(". ")[0] + ".", 2, ORIGINAL)
    _, labels = answer_labels(tokenizer, edit)
    assert [label for label in labels if label >= 0] == dataset.end_ids(tokenizer)
    assert all(label == KEPT for label in labels[:-1])


def test_a_thumbs_up_answer_is_all_target(tokenizer: Any) -> None:
    liked = Example("How do bees make honey?", ORIGINAL, 3)
    ids, labels = answer_labels(tokenizer, liked)
    assert labels == ids


def test_the_hold_is_zero_until_the_adapter_moves_and_grows_after() -> None:
    """batch_loss on a tiny random model: KL at kept tokens is 0 for a fresh LoRA (B = 0) and
    positive once the adapter changes what the model predicts there."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from app.adapters.train_job import batch_loss

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
    )
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    model = get_peft_model(LlamaForCausalLM(config), lora)
    ids = torch.tensor([[1, 5, 6, 7, 8, 9, 10, 2]])
    mask = torch.ones_like(ids)
    kept_only = torch.tensor([[IGNORE, IGNORE, KEPT, KEPT, KEPT, KEPT, KEPT, KEPT]])
    assert float(batch_loss(model, ids, mask, kept_only, hold=1.0)) == pytest.approx(0, abs=1e-6)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    assert float(batch_loss(model, ids, mask, kept_only, hold=1.0)) > 1e-4
    assert float(batch_loss(model, ids, mask, kept_only, hold=0.0)) == 0.0


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_the_hold_from_stored_base_states_is_the_hold_from_a_base_pass(family: str) -> None:
    """Training computes the base model's states once per example (base_hidden_states) instead
    of a base forward pass per step: the loss is the same, padding and soft-capping included."""
    import torch

    from app.adapters.train_job import base_hidden_states, batch_loss
    from tests.adapters.test_torch_scoring import tiny

    model = tiny(family)
    seqs = [
        ([1, 5, 6, 7, 8, 9, 10, 2], [IGNORE, IGNORE, KEPT, KEPT, 11, 12, KEPT, KEPT]),
        ([1, 5, 6, 2], [IGNORE, KEPT, KEPT, 13]),
    ]
    ids = torch.zeros((2, 8), dtype=torch.long)
    labels = torch.full((2, 8), IGNORE, dtype=torch.long)
    mask = torch.zeros((2, 8), dtype=torch.long)
    states = base_hidden_states(model, seqs)
    stacked = torch.zeros((2, 8, 32))
    for row, (seq_ids, seq_labels) in enumerate(seqs):
        ids[row, : len(seq_ids)] = torch.tensor(seq_ids)
        labels[row, : len(seq_labels)] = torch.tensor(seq_labels)
        mask[row, : len(seq_ids)] = 1
        stacked[row, : len(seq_ids)] = states[row]
    with torch.no_grad():
        passed = float(batch_loss(model, ids, mask, labels, hold=1.0))
        stored = float(batch_loss(model, ids, mask, labels, hold=1.0, base_states=stacked))
        without = float(batch_loss(model, ids, mask, labels, hold=0.0))
    assert stored == pytest.approx(passed, rel=1e-5)
    assert stored > without  # the hold is in it
    assert stored == pytest.approx(_reference_loss(model, ids, mask, labels), rel=1e-5)


def _reference_loss(model: object, ids: object, mask: object, labels: object) -> float:
    """The loss from every position's logits, written out plainly (no output-layer cut)."""
    import torch
    from torch.nn import functional

    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]  # type: ignore[operator]
        with model.disable_adapter():  # type: ignore[attr-defined]
            base = model(input_ids=ids, attention_mask=mask).logits[:, :-1]  # type: ignore[operator]
    targets = labels[:, 1:]  # type: ignore[index]
    kept = targets == KEPT
    ce = functional.cross_entropy(
        logits[~kept & (targets != IGNORE)], targets[~kept & (targets != IGNORE)]
    )
    base_logp, logp = base[kept].log_softmax(-1), logits[kept].log_softmax(-1)
    return float(ce + (base_logp.exp() * (base_logp - logp)).sum(-1).mean())


def _drift(model: Any, seqs: list[tuple[list[int], list[int]]], reference: list[Any]) -> float:
    """Mean KL from `reference` logits to the model's, over every position after the first."""
    import torch

    total = 0.0
    with torch.no_grad():
        for (ids, _), ref in zip(seqs, reference, strict=True):
            logp = model(input_ids=torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
            ref_logp = ref[:-1].log_softmax(-1)
            total += float((ref_logp.exp() * (ref_logp - logp)).sum(-1).mean())
    return total / len(seqs)


def _logits(model: Any, seqs: list[tuple[list[int], list[int]]]) -> list[Any]:
    import torch

    with torch.no_grad():
        return [model(input_ids=torch.tensor([ids])).logits[0] for ids, _ in seqs]


TRAIN_SEQS = [
    ([1, 5, 6, 7, 8, 9, 10, 2], [IGNORE, IGNORE, KEPT, KEPT, 11, 12, KEPT, 2]),
    ([1, 9, 8, 7, 6, 2], [IGNORE, IGNORE, KEPT, KEPT, 13, 2]),
    ([1, 4, 5, 6, 7, 2], [IGNORE, IGNORE, KEPT, 14, 15, 2]),
]
OPTS = dict(lr=0.01, steps=30, batch_size=2, seed=0, guard_every=0, hold=1.0, mixed_precision=False)


def test_the_anchor_texts_keep_general_text_near_the_base() -> None:
    """Training with the anchor texts (app.adapters.anchor) moves the model less on them than
    the same training without, and still learns the targets."""
    from app.adapters.train_job import train
    from tests.adapters.test_torch_scoring import tiny

    anchor = [
        ([1, 20, 21, 22, 23, 24, 25, 26], [IGNORE] + [KEPT] * 7),
        ([1, 30, 31, 32, 33, 34, 35], [IGNORE] + [KEPT] * 6),
    ]
    drift, loss = {}, {}
    for weight in (0.0, 4.0):
        model = tiny("llama", random_b=False)  # starts as the base
        with model.disable_adapter():
            base = _logits(model, anchor)
        result = train(model, TRAIN_SEQS, {**OPTS, "anchor_weight": weight}, anchor=anchor)
        drift[weight], loss[weight] = _drift(model, anchor, base), result["final_loss"]
    assert drift[4.0] < 0.5 * drift[0.0], drift
    assert drift[0.0] > 1e-3  # the training did move general text without the anchor


def test_a_continued_training_holds_the_kept_words_to_the_adapter_it_starts_from() -> None:
    """hold_to_start (app.adapters.continuation): the words the user kept are held to the
    model as training starts, adapter included, not to the base."""
    from app.adapters.train_job import train
    from tests.adapters.test_torch_scoring import tiny

    drift = {}
    for to_start in (False, True):
        model = tiny("llama")  # random B: an adapter already learnt
        start = _logits(model, TRAIN_SEQS)
        train(model, TRAIN_SEQS, OPTS, hold_to_start=to_start)
        drift[to_start] = _drift(model, TRAIN_SEQS, start)
    assert drift[True] < drift[False], drift
