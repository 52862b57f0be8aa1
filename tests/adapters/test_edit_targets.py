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
