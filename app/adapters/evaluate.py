"""The evaluation gate: a new adapter is activated only if it helps and does no harm.

Helps: the mean negative log-likelihood of the held-back preferred answers, through llama.cpp,
is lower with the adapter than without. No harm: perplexity on a neutral text rises by at most
5%. The figures are kept in the manifest and shown whether or not the gate opens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.adapters.neutral import NEUTRAL_TEXT

MAX_PERPLEXITY_RISE = 0.05


def measure(
    scorer: Any,
    adapter: Path,
    held: Sequence[tuple[Sequence[int], Sequence[int]]],
    spec: dict[str, Any] | None = None,
    scale: float = 1.0,
) -> dict[str, float]:
    """Held-back NLL and neutral perplexity, with and without the adapter (a LlamaScorer)."""
    from app.adapters.scoring import mean_nll

    text = (spec or {}).get("neutral_text") or NEUTRAL_TEXT
    neutral_ids = scorer.llama.tokenize(text.encode("utf-8"), add_bos=True)
    neutral = [(neutral_ids, [-100, *neutral_ids[1:]])]
    scorer.use(None)
    held_base = mean_nll(scorer, held)
    ppl_base = math.exp(mean_nll(scorer, neutral))
    scorer.use(adapter, scale)
    held_adapter = mean_nll(scorer, held)
    ppl_adapter = math.exp(mean_nll(scorer, neutral))
    scorer.use(None)
    return {
        "held_nll_base": held_base,
        "held_nll_adapter": held_adapter,
        "held_examples": float(len(held)),
        "neutral_ppl_base": ppl_base,
        "neutral_ppl_adapter": ppl_adapter,
        "neutral_ppl_ratio": ppl_adapter / ppl_base if ppl_base else float("inf"),
    }


def gate(figures: dict[str, float]) -> tuple[bool, str]:
    """(activate?, why) from the figures `measure` returned."""
    if not figures:
        return False, "no evaluation figures"
    nll_b, nll_a = figures["held_nll_base"], figures["held_nll_adapter"]
    ratio = figures["neutral_ppl_ratio"]
    helps = nll_a < nll_b
    harmless = ratio <= 1.0 + MAX_PERPLEXITY_RISE
    text = (
        f"held-back NLL {nll_b:.3f} -> {nll_a:.3f}; "
        f"neutral perplexity {figures['neutral_ppl_base']:.2f} -> "
        f"{figures['neutral_ppl_adapter']:.2f} ({(ratio - 1) * 100:+.1f}%)"
    )
    if not helps:
        return False, f"does not improve the held-back examples ({text})"
    if not harmless:
        return False, f"raises neutral perplexity by more than 5% ({text})"
    return True, f"improves the held-back examples without harm ({text})"
