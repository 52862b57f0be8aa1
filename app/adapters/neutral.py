"""The neutral set: general text in several genres and a few plain questions with plain answers
(`resources/neutral.json`). An adapter must not make it much less likely: the training guard
(torch, in the training process) and the evaluation gate (llama.cpp) both measure harm on it,
on the same token ids and with the same statistic, so the two cannot disagree about the rules.

Harm is the perplexity ratio on the general texts: exp(mean NLL with the adapter - mean NLL
without), the mean taken over every token of the texts after the first. The plain questions'
answers are measured and reported beside it (how much the adapter changes a plain answer) but
do not decide: a preference about form changes exactly those answers, by design. Measured on a
signature adapter that showed in 12 of 12 held-out answers: general text +5.8%, the plain
answers +22%; counted together they refused what the user asked for.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NEUTRAL_FILE = Path(__file__).resolve().parents[2] / "resources" / "neutral.json"

# The first text of the set, kept for callers that score one plain text (merge retention).
NEUTRAL_TEXT = (
    "The river begins in the hills north of the town, where several small streams meet in a "
    "shallow valley. In spring the water rises with melting snow, and the low fields along its "
    "banks are often flooded for a few weeks. Farmers in the area grow wheat, barley and "
    "potatoes, and many families keep a few cows or sheep. A stone bridge, built more than two "
    "hundred years ago, still carries the main road across the river. The town itself has a "
    "market square, a library, two schools and a small museum that describes the history of "
    "the region. Most people who live there work in farming, in the shops around the square, or "
    "in the larger city about forty kilometres to the south, which can be reached by train in "
    "less than an hour."
)

Sequences = list[tuple[list[int], list[int]]]


@dataclass(frozen=True)
class NeutralSet:
    texts: tuple[str, ...]
    chats: tuple[tuple[str, str], ...]  # (prompt, plain answer)

    def sequences(self, tokenizer: Any, system: str | None) -> Sequences:
        """(ids, labels) of the general texts, the harm set: each scored from its second token.
        `tokenizer` is a Hugging Face tokenizer or `retention.LlamaTokenizer`: the same ids
        either way. (`system` is unused here, kept so callers treat both sets alike.)"""
        from app.adapters.dataset import IGNORE

        bos = bos_id(tokenizer)
        out: Sequences = []
        for text in self.texts:
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if bos is not None:
                ids = [bos, *ids]
            out.append((ids, [IGNORE, *ids[1:]]))
        return out

    def answer_sequences(self, tokenizer: Any, system: str | None) -> Sequences:
        """(ids, labels) of the plain questions, scored on their answers only (the chat
        template, as training encodes it): reported, not a harm bound."""
        from app.adapters.dataset import Example, encode

        return [encode(tokenizer, Example(p, a), system) for p, a in self.chats]


def bos_id(tokenizer: Any) -> int | None:
    token = getattr(tokenizer, "bos_token_id", None)
    if token is None and hasattr(tokenizer, "llama"):
        token = tokenizer.llama.token_bos()
    return int(token) if token is not None and int(token) >= 0 else None


@functools.cache
def neutral_set() -> NeutralSet:
    """The set shipped in resources/; an install without it falls back to one plain text."""
    try:
        data = json.loads(NEUTRAL_FILE.read_text(encoding="utf-8"))
        texts = tuple(str(t["text"]) for t in data["texts"])
        chats = tuple((str(c["prompt"]), str(c["answer"])) for c in data["chats"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("neutral set unreadable (%s): using one built-in text", exc)
        return NeutralSet((NEUTRAL_TEXT,), ())
    return NeutralSet(texts, chats)


def for_spec(spec: dict[str, Any] | None) -> NeutralSet:
    """The set a training job measures harm on: the shipped one, or a text the job names."""
    text = (spec or {}).get("neutral_text")
    return NeutralSet((str(text),), ()) if text else neutral_set()


def ratio(nll_adapter: float, nll_base: float) -> float:
    """Perplexity with the adapter over without, from the two mean NLLs."""
    return math.exp(nll_adapter - nll_base)


def torch_harm(
    scorer: Any, tokenizer: Any, spec: dict[str, Any] | None, system: str | None
) -> Callable[[], float]:
    """The training guard: the neutral perplexity ratio of the model in training (a
    `torch_scoring.TorchScorer`), now against without its adapter, measured exactly as the
    gate measures it (same ids, same mean over tokens)."""
    sequences = for_spec(spec).sequences(tokenizer, system)
    scorer.use(None)
    base = scorer.mean_nll(sequences)

    def harm() -> float:
        scorer.use("the adapter in training")
        return ratio(scorer.mean_nll(sequences), base)

    return harm
