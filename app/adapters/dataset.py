"""Training examples from feedback: edits and thumbs-up become targets, 20% are held back.

The split is deterministic (ordered by a hash of each example), so re-running on the same
feedback holds back the same examples. Tokenisation uses the model's own chat template (read
from the GGUF by the tokenizer) and masks everything but the assistant's answer from the loss.

An edit teaches what the user changed, not the words they kept: the runs of the corrected
answer that repeat the model's own answer (its words, which it would say anyway) are labelled
KEPT. Training puts the loss on what was added or rewritten and on where the answer ends, and
holds the kept positions to what the base model predicts there (a KL term, train_job.train).
Measured on a signature preference (40 steps, 12 held-out prompts): with the whole answer in
the loss the model learnt its own sentences by heart (loss 0.19) and general text grew 11.7%
less likely; with the kept words out of the loss and nothing holding them, it answered "~ Pip"
and nothing else; with the KL hold, 12/12 answers kept their content and ended with the
signature, general text +5.8%.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.adapters.feedback import Feedback

IGNORE = -100  # label value torch's cross-entropy skips
KEPT = -101  # an answer token the user kept from the model's answer (never a target itself)
# A run of at least this many tokens shared with the model's own answer counts as kept words;
# shorter matches ("the", ".") are coincidences inside rewritten text and stay in the loss.
MIN_KEPT_RUN = 3


@dataclass(frozen=True)
class Example:
    prompt: str
    target: str
    feedback_id: int | None = None
    original: str | None = None  # the model's answer the user edited (None: a thumbs-up)

    def key(self) -> str:
        return hashlib.sha256(f"{self.prompt}\x00{self.target}".encode()).hexdigest()


@dataclass(frozen=True)
class Split:
    train: list[Example]
    held: list[Example]
    statements: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "train_examples": len(self.train),
            "held_examples": len(self.held),
            "statements": len(self.statements),
            "feedback_ids": sorted(e.feedback_id for e in self.train + self.held if e.feedback_id),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": [asdict(e) for e in self.train],
            "held": [asdict(e) for e in self.held],
            "statements": list(self.statements),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        return cls(
            train=[Example(**e) for e in data["train"]],
            held=[Example(**e) for e in data["held"]],
            statements=list(data.get("statements", [])),
        )


def examples_from_feedback(items: Sequence[Feedback]) -> list[Example]:
    """Edits and thumbs-up answers, deduplicated; a later edit of the same answer wins."""
    by_prompt: dict[tuple[str, str], Example] = {}
    for item in items:
        target = item.target()
        if target is None:
            continue
        original = item.response if item.correction and item.response else None
        by_prompt[(item.prompt, item.response)] = Example(item.prompt, target, item.id, original)
    return list(by_prompt.values())


def split(examples: Sequence[Example], held_fraction: float = 0.2) -> Split:
    ordered = sorted(examples, key=lambda e: e.key())
    n_held = math.ceil(len(ordered) * held_fraction) if len(ordered) >= 2 else 0
    # Every k-th in hash order, so the held-back set is spread over the data, not one corner.
    step = max(1, len(ordered) // n_held) if n_held else 0
    held_idx = set(range(0, step * n_held, step)) if n_held else set()
    held = [e for i, e in enumerate(ordered) if i in held_idx]
    train = [e for i, e in enumerate(ordered) if i not in held_idx]
    return Split(train=train, held=held)


def build(items: Sequence[Feedback], held_fraction: float = 0.2) -> Split:
    result = split(examples_from_feedback(items), held_fraction)
    statements = [f.statement for f in items if f.kind == "statement" and f.statement]
    return Split(result.train, result.held, statements)


def messages_for(prompt: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def prompt_ids(tokenizer: Any, prompt: str, system: str | None) -> list[int]:
    """Token ids of the chat up to where the assistant starts answering."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            messages_for(prompt, system), tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    # A base model without a template: plain text, as llama.cpp's completion would see it.
    head = f"{system}\n\n" if system else ""
    return list(tokenizer(f"{head}{prompt}\n\n", add_special_tokens=True)["input_ids"])


def end_ids(tokenizer: Any) -> list[int]:
    """What closes an answer: the template's end-of-turn token, else end-of-sequence."""
    if not getattr(tokenizer, "chat_template", None):
        return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for name in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(name)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            return [token_id]
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def encode(
    tokenizer: Any, example: Example, system: str | None, max_len: int = 256
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with the loss on the answer and its end-of-turn token only; for an
    edit, on what the edit changed (see the module's note)."""
    head = prompt_ids(tokenizer, example.prompt, system)
    answer = list(tokenizer(example.target, add_special_tokens=False)["input_ids"])
    scored = list(answer)
    if example.original:
        original = list(tokenizer(example.original, add_special_tokens=False)["input_ids"])
        scored = changed_only(answer, original)
    ends = end_ids(tokenizer)
    if not ends and all(label == KEPT for label in scored):
        scored = list(answer)  # a cut without an end token to learn: keep the words in
    ids = (head + answer + ends)[:max_len]
    labels = ([IGNORE] * len(head) + scored + ends)[:max_len]
    return ids, labels


def changed_only(answer: list[int], original: list[int]) -> list[int]:
    """`answer` as labels, with the runs it shares with `original` marked KEPT."""
    labels = list(answer)
    matcher = difflib.SequenceMatcher(None, original, answer, autojunk=False)
    for block in matcher.get_matching_blocks():
        if block.size >= MIN_KEPT_RUN:
            labels[block.b : block.b + block.size] = [KEPT] * block.size
    return labels
