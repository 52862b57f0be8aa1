"""The evaluation gate: a new adapter is activated only if it helps and does no harm.

Helps: the mean negative log-likelihood of the held-back preferred answers is lower with the
adapter than without. No harm: perplexity on the neutral set (`app.adapters.neutral`) rises by
at most 5%. An adapter that helps but is over that budget at full strength is not thrown away:
the largest strength (the scale it is applied at) within the budget is found by bisection, and
the adapter is accepted at that strength if it still helps there. Only an adapter that helps
nothing, or harms at every strength, is rejected. The figures are kept in the manifest and
shown whether or not the gate opens.

The training job measures in torch (`torch_scoring`) on the dequantised weights llama.cpp
runs, and the figures count only once the parity check has shown llama.cpp applies the same
adapter: the guard that stops training and the gate then measure harm the same way, and a
measure costs ~2 s instead of ~4.5 s (llama.cpp scores one sequence at a time). A LlamaScorer
measures the same figures (tests/adapters/test_torch_scoring.py holds the two together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_PERPLEXITY_RISE = 0.05
MIN_STRENGTH = 0.1  # below this an adapter shows next to nothing of what it learnt
SEARCH_STEPS = 4  # neutral passes the strength search may spend (a few seconds each)
# A strength whose harm is this close under the budget ends the search: closer would change
# the strength by a hundredth or so (measured: 0.6717 at +4.86% against 0.68 two passes later).
CLOSE_ENOUGH = 0.003
CONFIRM_STEPS = 3  # llama.cpp passes `confirm` may spend on lowering the strength
# torch and llama.cpp have differed by at most ~1 point of harm (measured on trained and random
# adapters): a harm this far under the budget in torch is under it in llama.cpp too, and the
# two llama.cpp passes (~4 s of a training) are saved.
CONFIRM_MARGIN = 0.015

Pairs = Sequence[tuple[Sequence[int], Sequence[int]]]


def within_budget(ratio: float) -> bool:
    return ratio <= 1.0 + MAX_PERPLEXITY_RISE


def measure(
    scorer: Any,
    adapter: Path,
    held: Pairs,
    spec: dict[str, Any] | None = None,
    scale: float = 1.0,
    tokenizer: Any = None,
) -> dict[str, Any]:
    """Held-back NLL and neutral perplexity with and without the adapter, at full strength
    (`scale`) and, when that is over the harm budget, at the largest strength within it. The
    summary keys (`held_nll_adapter`, `neutral_ppl_ratio`, ...) are those at the chosen
    `strength`; `*_full` are at full strength. `scorer`: a LlamaScorer, or the training
    process's TorchScorer (with its Hugging Face `tokenizer`: the same token ids)."""
    from app.adapters import neutral
    from app.adapters.merge.retention import LlamaTokenizer

    system = (spec or {}).get("system")
    neutral_set = neutral.for_spec(spec)
    tokenizer = tokenizer if tokenizer is not None else LlamaTokenizer(scorer.llama)
    sequences = neutral_set.sequences(tokenizer, system)
    plain = neutral_set.answer_sequences(tokenizer, system)
    scorer.use(None)
    held_base = scorer.mean_nll(held)
    neutral_base = scorer.mean_nll(sequences)
    plain_base = scorer.mean_nll(plain) if plain else None

    def at(strength: float) -> tuple[float, float]:
        scorer.use(adapter, strength * scale)
        return scorer.mean_nll(held), scorer.mean_nll(sequences)

    held_full, neutral_full = at(1.0)
    tried = [(1.0, neutral.ratio(neutral_full, neutral_base))]
    strength: float | None = 1.0
    held_at, neutral_at = held_full, neutral_full
    if held_full < held_base and not within_budget(tried[0][1]):
        strength, tried = _largest_within(scorer, adapter, sequences, neutral_base, scale, tried)
        if strength is not None:
            scorer.use(adapter, strength * scale)
            held_at = scorer.mean_nll(held)
            # The ratio measured at the largest tried strength that fits (at or just above
            # the two-decimal strength kept): the harm shown is never understated.
            fits = [r for s, r in tried if s >= strength and within_budget(r)]
            neutral_at = neutral_base + math.log(min(fits)) if fits else at(strength)[1]
    plain_ratio = None
    if plain and plain_base is not None and strength is not None:
        scorer.use(adapter, strength * scale)
        plain_ratio = neutral.ratio(scorer.mean_nll(plain), plain_base)
    scorer.use(None)
    ppl_base = math.exp(neutral_base)
    return {
        "held_nll_base": held_base,
        "held_nll_adapter": held_at,
        "held_examples": float(len(held)),
        "neutral_ppl_base": ppl_base,
        "neutral_ppl_adapter": math.exp(neutral_at),
        "neutral_ppl_ratio": neutral.ratio(neutral_at, neutral_base),
        "neutral_tokens": float(sum(sum(1 for x in lb[1:] if x >= 0) for _, lb in sequences)),
        "neutral_items": float(len(sequences)),
        # How much less likely the plain answers to plain questions became (not a bound).
        "plain_answers_ratio": plain_ratio,
        "held_nll_full": held_full,
        "neutral_ppl_ratio_full": tried[0][1],
        # None: over the budget even at MIN_STRENGTH
        "strength": strength,
        "strengths_tried": [[round(s, 4), round(r, 5)] for s, r in tried],
    }


def _largest_within(
    scorer: Any,
    adapter: Path,
    sequences: Pairs,
    neutral_base: float,
    scale: float,
    tried: list[tuple[float, float]],
) -> tuple[float | None, list[tuple[float, float]]]:
    """The largest strength in [MIN_STRENGTH, 1] whose neutral perplexity ratio fits the budget
    (the ratio grows with the strength). A bisection that cuts where the log-ratio, drawn as a
    line between the two ends, meets the budget (false position): each neutral pass costs
    seconds, and this lands within a few hundredths in SEARCH_STEPS passes. None when
    MIN_STRENGTH does not fit either."""
    from app.adapters.neutral import ratio

    def log_harm(strength: float) -> float:
        scorer.use(adapter, strength * scale)
        value = ratio(scorer.mean_nll(sequences), neutral_base)
        tried.append((strength, value))
        return math.log(value)

    budget = math.log(1.0 + MAX_PERPLEXITY_RISE)
    # Known ends: no adapter is no harm (ratio 1), full strength is over the budget.
    low, low_harm, high, high_harm = 0.0, 0.0, 1.0, math.log(tried[0][1])
    for _ in range(SEARCH_STEPS):
        if high - low < 0.02:
            break
        share = (budget - low_harm) / max(high_harm - low_harm, 1e-9)
        # Aim a little under the line, and never at either end, so that each pass gains.
        middle = min(high - 0.01, max(low + 0.01, low + 0.97 * share * (high - low)))
        harm = log_harm(middle)
        if harm <= budget:
            low, low_harm = middle, harm
            if math.exp(harm) >= 1.0 + MAX_PERPLEXITY_RISE - CLOSE_ENOUGH:
                break
        else:
            high, high_harm = middle, harm
    if low < MIN_STRENGTH:
        if log_harm(MIN_STRENGTH) > budget:
            return None, tried
        low = MIN_STRENGTH
    # Two decimals, rounded down: the strength shown is one that was measured to fit.
    return max(MIN_STRENGTH, math.floor(low * 100) / 100), tried


def confirm(
    scorer: Any, adapter: Path, figures: dict[str, Any], held: Pairs, spec: dict[str, Any]
) -> dict[str, Any]:
    """The harm at the chosen strength measured again as the app will run it, in llama.cpp
    (`scorer`: a LlamaScorer), and the strength lowered until it fits there too.

    torch and llama.cpp agree on the harm within a point, not exactly (llama.cpp quantises
    the activations): measured on one adapter +3.17% in torch and +3.97% in llama.cpp, so a
    strength found in torch just under the 5% budget could run at ~6% in the app. Costs two
    neutral passes (a few seconds) when the torch strength fits, a few more when it does not;
    nothing when torch's harm is more than CONFIRM_MARGIN under the budget.
    """
    from app.adapters import neutral
    from app.adapters.merge.retention import LlamaTokenizer

    strength = figures.get("strength")
    if not figures or strength is None:
        return figures
    if figures.get("neutral_ppl_ratio", 2.0) <= 1.0 + MAX_PERPLEXITY_RISE - CONFIRM_MARGIN:
        return {**figures, "llama_cpp_checks": []}  # far enough under the budget in torch
    sequences = neutral.for_spec(spec).sequences(LlamaTokenizer(scorer.llama), spec.get("system"))
    scorer.use(None)
    base = scorer.mean_nll(sequences)
    checks: list[list[float]] = []
    fits: bool = False
    for _ in range(CONFIRM_STEPS):
        scorer.use(adapter, strength)
        harm = neutral.ratio(scorer.mean_nll(sequences), base)
        checks.append([round(strength, 4), round(harm, 5)])
        fits = within_budget(harm)
        if fits:
            break
        # The log-harm grows about with the square of the strength (measured: 0.61 -> 0.50
        # took +6.1% to +3.8%), near the budget a little slower: the first step assumes the
        # square, a step after it a straight line, which lands at or under the budget.
        share = math.log(1.0 + MAX_PERPLEXITY_RISE) / math.log(harm)
        lower = math.floor(strength * share ** (0.5 if not checks[:-1] else 1.0) * 100) / 100
        if lower < MIN_STRENGTH:
            break
        strength = lower
    out = {**figures, "llama_cpp_checks": checks}
    if not fits:  # over the budget in llama.cpp at every strength tried: rejected
        out.update(strength=None)
        return out
    if strength != figures["strength"]:
        # Whether it still helps at the lower strength, both sides measured in llama.cpp.
        scorer.use(None)
        held_base = scorer.mean_nll(held)
        scorer.use(adapter, strength)
        out.update(
            strength=strength,
            held_nll_base=held_base,
            held_nll_adapter=scorer.mean_nll(held),
            neutral_ppl_adapter=figures["neutral_ppl_base"] * harm,
            neutral_ppl_ratio=harm,
        )
    scorer.use(None)
    return out


def gate(figures: dict[str, Any]) -> tuple[bool, str]:
    """(activate?, why) from the figures `measure` returned."""
    if not figures:
        return False, "no evaluation figures"
    nll_b, nll_a = figures["held_nll_base"], figures["held_nll_adapter"]
    ratio = figures["neutral_ppl_ratio"]
    # Figures from before the strength search carry no strength: judged at full strength.
    strength = figures.get("strength", 1.0)
    full = figures.get("neutral_ppl_ratio_full", ratio)
    text = (
        f"held-back NLL {nll_b:.3f} -> {nll_a:.3f}; "
        f"neutral perplexity {figures['neutral_ppl_base']:.2f} -> "
        f"{figures['neutral_ppl_adapter']:.2f} ({(ratio - 1) * 100:+.1f}%)"
    )
    checks = figures.get("llama_cpp_checks") or []
    if strength is None and checks:  # torch found a strength; llama.cpp measured more harm
        tried = ", ".join(f"{s:.2f}: {(r - 1) * 100:+.1f}%" for s, r in checks)
        return False, (
            f"raises neutral perplexity by more than 5% as the app runs it (llama.cpp, at "
            f"strength {tried}; held-back NLL {nll_b:.3f} -> {nll_a:.3f})"
        )
    if strength is None:
        return False, (
            f"raises neutral perplexity by more than 5% at every strength down to "
            f"{MIN_STRENGTH} ({(full - 1) * 100:+.1f}% at full strength; "
            f"held-back NLL {nll_b:.3f} -> {figures.get('held_nll_full', nll_a):.3f})"
        )
    if not nll_a < nll_b:
        at = "" if strength >= 1.0 else f" at strength {strength:.2f}, the most the budget allows"
        return False, f"does not improve the held-back examples{at} ({text})"
    if not within_budget(ratio):
        return False, f"raises neutral perplexity by more than 5% ({text})"
    if strength < 1.0:
        return True, (
            f"accepted at strength {strength:.2f}: at full strength neutral perplexity rose "
            f"{(full - 1) * 100:+.1f}% (budget 5%); {text}"
        )
    return True, f"improves the held-back examples without harm ({text})"


def strength_of(manifest: dict[str, Any]) -> float | None:
    """The strength to activate an adapter at: the one its gate measured to fit the harm
    budget; full strength for a merge (its own gate judged it at full strength); None when
    nothing was measured here (an older or an imported adapter: the strength in use stays)."""
    if manifest.get("source"):  # imported: its figures were measured somewhere else
        return None
    value = (manifest.get("evaluation") or {}).get("strength")
    if isinstance(value, int | float):
        return float(value)
    return 1.0 if manifest.get("kind") == "merged" else None
