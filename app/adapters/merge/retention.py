"""How much of each parent's effect a merged adapter keeps, measured through llama.cpp.

A parent's effect is how much it lowers the negative log-likelihood of its own held-back
preferred answers: `base - parent`. The merged adapter keeps `(base - merged) / (base - parent)`
of it (1.0: all of it; above 1: more). Examples are encoded with the training code's own
`dataset.encode`, over llama.cpp's tokenizer and the GGUF's chat template, so no torch or
transformers import is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

MAX_EXAMPLES = 16  # per parent: enough to measure an effect, bounded time


@dataclass(frozen=True)
class ParentEffect:
    id: Any
    examples: int
    nll_base: float
    nll_parent: float
    nll_merged: float

    @property
    def effect(self) -> float:
        return self.nll_base - self.nll_parent

    @property
    def retained(self) -> float | None:
        """Share of the parent's effect the merge kept; None if the parent had none to keep."""
        if self.effect <= 1e-6:
            return None
        return (self.nll_base - self.nll_merged) / self.effect

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "effect": self.effect, "retained": self.retained}


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
    from app.adapters.scoring import mean_nll

    effects = []
    for parent_id, path, examples in parents:
        sequences = encode_examples(scorer, examples, system)
        if not sequences:
            continue
        figures = []
        for adapter in (None, path, merged):
            scorer.use(adapter)
            figures.append(mean_nll(scorer, sequences))
        scorer.use(None)
        effects.append(ParentEffect(parent_id, len(sequences), *figures))
    return effects


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
