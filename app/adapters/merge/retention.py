"""How much of each parent's effect a merged adapter keeps, measured through llama.cpp.

A parent's effect is how much it lowers the negative log-likelihood (NLL) of its own held-back
preferred answers. It is counted on the tokens the parent taught (where it lowers the NLL by
more than `TAUGHT_NATS`): a merge that adds another preference changes other tokens of these
answers too (another adapter's "Ahoy!" makes an answer that lacks it less likely), and that is
not a loss of this parent's effect. `retained` = (base - merged) / (base - parent) summed over
those tokens (1.0: all kept); `retained_sequence` is the same over every answer token.

Examples are encoded with the training code's own `dataset.encode`, over llama.cpp's tokenizer
and the GGUF's chat template, so no torch or transformers import is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MAX_EXAMPLES = 16  # per parent: enough to measure an effect, bounded time
TAUGHT_NATS = 0.1  # a token the parent made at least this much more likely is one it taught
MIN_EFFECT = 1e-3  # mean NLL drop (nats per token) below which a parent had no effect to keep


@dataclass(frozen=True)
class ParentEffect:
    id: Any
    examples: int
    tokens: int
    nll_base: float  # mean per answer token
    nll_parent: float
    nll_merged: float
    taught_tokens: int
    taught_effect: float  # summed NLL drop on the taught tokens, parent alone
    taught_kept: float  # the same drop with the merged adapter
    flipped: int = 0  # tokens the parent made the top choice (the base did not)
    flipped_kept: int = 0  # of those, the ones still the top choice with the merged adapter

    @property
    def effect(self) -> float:
        return self.nll_base - self.nll_parent

    @property
    def retained(self) -> float | None:
        """Share of the parent's effect the merge kept; None if the parent had none to keep."""
        if self.effect <= MIN_EFFECT or self.taught_effect <= 0:
            return None
        return self.taught_kept / self.taught_effect

    @property
    def retained_top1(self) -> float | None:
        """Share of the answer tokens the parent made the model's first choice that the merged
        adapter still makes its first choice: what greedy decoding will show."""
        return self.flipped_kept / self.flipped if self.flipped else None

    @property
    def retained_sequence(self) -> float | None:
        if self.effect <= MIN_EFFECT:
            return None
        return (self.nll_base - self.nll_merged) / self.effect

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "effect": self.effect,
            "retained": self.retained,
            "retained_top1": self.retained_top1,
            "retained_sequence": self.retained_sequence,
        }


class LlamaTokenizer:
    """The slice of a Hugging Face tokenizer that `dataset.encode` uses, over llama.cpp."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.chat_template: str | None = llama.metadata.get("tokenizer.chat_template")
        self.eos_token_id: int | None = llama.token_eos()
        self.unk_token_id: int | None = None
        self._eos = self._text(self.eos_token_id)
        self._bos = self._text(llama.token_bos())

    def _text(self, token: int | None) -> str:
        if token is None or token < 0:
            return ""
        return bytes(self.llama.detokenize([token], special=True)).decode("utf-8", "replace")

    def apply_chat_template(
        self,
        messages: list[dict[str, str]],
        *,
        tokenize: bool = False,
        add_generation_prompt: bool = True,
    ) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            self.chat_template or "",
            eos_token=self._eos,
            bos_token=self._bos,
            add_generation_prompt=add_generation_prompt,
        )
        return str(formatter(messages=cast(Any, messages)).prompt)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = self.llama.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)
        return {"input_ids": list(ids)}

    def convert_tokens_to_ids(self, token: str) -> int | None:
        ids = self.llama.tokenize(token.encode("utf-8"), add_bos=False, special=True)
        return int(ids[0]) if len(ids) == 1 and self._text(ids[0]) == token else None


def held_examples(manifest: dict[str, Any]) -> list[Any]:
    """The held-back examples an adapter's manifest carries (its own, or its lineage's)."""
    from app.adapters.dataset import Example

    rows = manifest.get("dataset", {}).get("held_back", [])
    return [
        Example(r["prompt"], r["target"], r.get("feedback_id"))
        for r in rows
        if isinstance(r, dict) and "prompt" in r and "target" in r
    ]


def encode_examples(scorer: Any, examples: Sequence[Any], system: str | None) -> list[Any]:
    from app.adapters.dataset import encode

    tokenizer = LlamaTokenizer(scorer.llama)
    return [encode(tokenizer, e, system) for e in list(examples)[:MAX_EXAMPLES]]


def measure(
    scorer: Any,
    merged: Path,
    parents: Sequence[tuple[Any, Path, Sequence[Any]]],
    system: str | None,
) -> list[ParentEffect]:
    """Each parent's effect alone and under `merged`, on its own held-back examples.

    `scorer` is an `app.adapters.scoring.LlamaScorer`; `parents` are (id, file, examples).
    """
    effects = []
    base_cache: dict[int, tuple[FloatArray, BoolArray]] = {}
    for parent_id, path, examples in parents:
        sequences = encode_examples(scorer, examples, system)
        if not sequences:
            continue
        key = hash(tuple(tuple(ids) for ids, _ in sequences))
        if key not in base_cache:
            base_cache[key] = token_scores(scorer, None, sequences)
        base, base_top = base_cache[key]
        alone, alone_top = token_scores(scorer, path, sequences)
        with_merged, merged_top = token_scores(scorer, merged, sequences)
        taught = (base - alone) > TAUGHT_NATS
        flipped = alone_top & ~base_top
        effects.append(
            ParentEffect(
                parent_id,
                len(sequences),
                int(base.size),
                float(base.mean()),
                float(alone.mean()),
                float(with_merged.mean()),
                int(taught.sum()),
                float((base - alone)[taught].sum()),
                float((base - with_merged)[taught].sum()),
                int(flipped.sum()),
                int((flipped & merged_top).sum()),
            )
        )
    scorer.use(None)
    return effects


def token_scores(
    scorer: Any, adapter: Path | None, sequences: Sequence[Any]
) -> tuple[FloatArray, BoolArray]:
    """For every labelled token of `sequences` under `adapter` (None: the base), in order:
    its NLL, and whether it is the model's first choice."""
    from app.adapters.scoring import log_softmax

    scorer.use(adapter)
    values: list[FloatArray] = []
    hits: list[BoolArray] = []
    for ids, labels in sequences:
        logp = log_softmax(scorer.logits(ids)[:-1])
        rows = [i for i in range(len(ids) - 1) if labels[i + 1] >= 0]
        targets = [ids[i + 1] for i in rows]
        values.append(-logp[rows, targets].astype(np.float64))
        hits.append(logp[rows].argmax(axis=-1) == np.asarray(targets))
    if not values:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(values), np.concatenate(hits)


def neutral_ratio(scorer: Any, merged: Path, text: str | None = None) -> float:
    """Perplexity on a neutral text with the merged adapter over without (1.0: no change)."""
    from app.adapters.neutral import NEUTRAL_TEXT
    from app.adapters.scoring import mean_nll

    ids = scorer.llama.tokenize((text or NEUTRAL_TEXT).encode("utf-8"), add_bos=True)
    sequence = [(ids, [-100, *ids[1:]])]
    scorer.use(None)
    base = mean_nll(scorer, sequence)
    scorer.use(merged)
    with_merged = mean_nll(scorer, sequence)
    scorer.use(None)
    return math.exp(with_merged - base)
