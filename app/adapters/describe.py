"""Each adapter version told in words: what it learnt (the kinds of corrections it was trained
on), two before/after examples from its held-back prompts (read from the database by id),
when, from how many examples, at which strength, and why it was refused if it was. The figures
stay one click away (`Story.figures`). Qt-free: the Personalization page and the CLI show it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SHARED = 0.6  # a pattern most corrections share is something the version learnt


@dataclass(frozen=True)
class Example:
    prompt: str
    before: str  # the answer as Hearth gave it
    after: str  # the answer as the user wanted it


@dataclass(frozen=True)
class Story:
    version_id: int
    title: str
    state: str
    learnt: list[str]
    basis: str
    strength: str
    refusal: str | None
    examples: list[Example] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _words(text: str) -> list[str]:
    return text.split()


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def _listed(text: str) -> bool:
    marks = [line for line in _lines(text) if re.match(r"^(?:[-*•]|\d+[.)])\s", line)]
    return len(marks) >= 2


def _common(texts: Sequence[str], at_end: bool) -> str | None:
    """The longest run of words (up to 8) at the start (or end) most texts share."""
    best = None
    for size in range(1, 9):
        cut = [
            " ".join(_words(t)[-size:] if at_end else _words(t)[:size])
            for t in texts
            if len(_words(t)) >= size
        ]
        if not cut:
            break
        phrase, count = Counter(cut).most_common(1)[0]
        if count < SHARED * len(texts):
            break
        best = phrase
    # A list marker ("-") is not a phrase: lists are told apart below.
    return best if best and re.search(r"\w", best) else None


def _share(texts: Sequence[str], test: Any) -> float:
    return sum(1 for t in texts if test(t)) / max(len(texts), 1)


def kinds(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The kinds of corrections in (answer given, answer wanted) pairs, in plain words."""
    if not pairs:
        return []
    given = [g for g, _ in pairs]
    wanted = [w for _, w in pairs]
    found = []
    opening = _common(wanted, at_end=False)
    if opening and not _share(given, lambda t: t.startswith(opening)) >= SHARED:
        found.append(f"starts answers with “{opening}”")
    closing = _common([_lines(w)[-1] if _lines(w) else w for w in wanted], at_end=True)
    if closing and not _share(given, lambda t: t.rstrip().endswith(closing)) >= SHARED:
        if _share(wanted, lambda t: len(_lines(t)) > 1 and _lines(t)[-1] == closing) >= SHARED:
            found.append(f"signs answers with “{closing}” on a line of its own")
        else:
            found.append(f"ends answers with “{closing}”")
    if _share(wanted, _listed) >= SHARED and _share(given, _listed) < SHARED:
        found.append("puts answers as a list of points")
    ratios = [len(w) / max(len(g), 1) for g, w in pairs if g]
    ratio = statistics.median(ratios) if ratios else 1.0
    if _share(wanted, lambda t: _sentences(t) == 1) >= SHARED and ratio < 0.8:
        found.append("keeps answers to one sentence")
    elif ratio < 0.7:
        found.append(f"makes answers shorter (about {ratio:.0%} of their length)")
    elif ratio > 1.4:
        found.append(f"makes answers longer (about {ratio:.1f} times their length)")
    if not found:
        found.append("rewords answers the way you corrected them (no single pattern)")
    return found


def _pairs(service: Any, ids: Sequence[int]) -> tuple[list[tuple[str, str]], int]:
    """(answer given, answer wanted) of the corrections among `ids`, and how many of them
    were thumbs-up answers instead (taught as they were)."""
    pairs, liked = [], 0
    for feedback_id in ids:
        item = service.feedback.get(int(feedback_id))
        if item is None:
            continue
        if item.correction:
            pairs.append((item.response, item.correction))
        elif item.rating == 1:
            liked += 1
    return pairs, liked


def _examples(service: Any, ids: Sequence[int], limit: int = 2) -> list[Example]:
    out = []
    for feedback_id in ids:
        item = service.feedback.get(int(feedback_id))
        if item is None or item.target() is None:
            continue  # deleted by the user since: gone from here too
        out.append(Example(item.prompt, item.response, str(item.target())))
        if len(out) == limit:
            break
    return out


def _when(created_at: str) -> str:
    return created_at[:16].replace("T", " ")


def describe(service: Any, version_id: int) -> Story:
    """The story of one version, from its manifest and the feedback it names."""
    from app.adapters.consolidate import held_back_ids

    version = service.versions.get(version_id)
    manifest = version.manifest
    active, scale = service.active()
    data = manifest.get("dataset") or {}
    ev = manifest.get("evaluation") or {}
    gate = manifest.get("gate") or {}
    held = held_back_ids(manifest)
    kind = manifest.get("kind") or version.status
    if version.parents:
        title = f"Version {version.id}: versions {_join(version.parents)} combined"
        ids: list[int] = []
        for parent in version.parents:
            ids += _parent_ids(service, parent)
    else:
        title = f"Version {version.id}: {'imported' if kind == 'imported' else 'trained'}"
        ids = list(data.get("feedback_ids") or [])
    title += f" on {_when(version.created_at)}"
    pairs, liked = _pairs(service, ids)
    learnt = kinds(pairs)
    if liked:
        learnt.append(f"more like the {liked} answers you gave a thumbs up")
    if not ids and not version.parents:
        learnt = ["made elsewhere; Hearth has no record of what it was taught"]
    basis = _basis(data, len(held), version.parents, manifest.get("continued_from"))
    strength = _strength(ev)
    refusal = None
    if version.status in ("refused", "rejected") or gate.get("passed") is False:
        refusal = str(gate.get("reason") or version.status)
    is_active = active is not None and active.id == version.id
    state = f"in use at strength {scale:.2f}" if is_active else f"not in use ({version.status})"
    return Story(
        version.id,
        title,
        state,
        learnt,
        basis,
        strength,
        refusal,
        _examples(service, held),
        figures(manifest),
    )


def _parent_ids(service: Any, parent: int) -> list[int]:
    try:
        manifest = service.versions.get(parent).manifest
    except Exception:  # a parent row that is gone leaves its lineage unnamed, not an error
        return []
    return list((manifest.get("dataset") or {}).get("feedback_ids") or [])


def _join(ids: Sequence[int]) -> str:
    names = [str(i) for i in ids]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _basis(data: dict[str, Any], held: int, parents: Sequence[int], continued: Any = None) -> str:
    if parents:
        return f"Combines what versions {_join(parents)} learnt into one adapter."
    train = data.get("train_examples")
    if train is None:
        return "No training record."
    text = f"Learnt from {train} of your examples; {held} more were held back to check it"
    if isinstance(continued, dict) and continued.get("adapter_id") is not None:
        text = (
            f"Builds on version {continued['adapter_id']} and keeps what it learnt; "
            f"learnt from {train} new examples of yours; {held} more were held back to check it"
        )
    statements = data.get("statements") or 0
    if statements:
        text += f", with {statements} stated preference{'s' if statements != 1 else ''}"
    return text + "."


def _strength(ev: dict[str, Any]) -> str:
    value = ev.get("strength")
    if value is None and "strength" in ev:
        return "No strength kept it within the no-harm budget."
    if value is None:
        return ""
    if value >= 1.0:
        return "Used at full strength: it does no measurable harm to general answers."
    full = ev.get("neutral_ppl_ratio_full")
    rise = (
        f" (at full strength ordinary text got {(full - 1):.1%} harder to predict)" if full else ""
    )
    return f"Used at strength {value:.2f}, the most that stays within the no-harm budget{rise}."


def figures(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The measured figures, labelled, for those who want them."""
    ev = manifest.get("evaluation") or {}
    training = manifest.get("training") or {}
    parity = manifest.get("parity") or {}
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any, fmt: str) -> None:
        if isinstance(value, int | float):
            out.append((label, fmt.format(value)))

    add("Held-back NLL without", ev.get("held_nll_base"), "{:.3f}")
    add("Held-back NLL with", ev.get("held_nll_adapter"), "{:.3f}")
    add("Held-back NLL at full strength", ev.get("held_nll_full"), "{:.3f}")
    add("Neutral perplexity without", ev.get("neutral_ppl_base"), "{:.2f}")
    add("Neutral perplexity with", ev.get("neutral_ppl_adapter"), "{:.2f}")
    add("Neutral perplexity ratio", ev.get("neutral_ppl_ratio"), "x{:.3f}")
    add("Neutral ratio at full strength", ev.get("neutral_ppl_ratio_full"), "x{:.3f}")
    add("Neutral tokens scored", ev.get("neutral_tokens"), "{:.0f}")
    add("Strength", ev.get("strength"), "{:.2f}")
    add("Retained (weakest parent)", ev.get("retained_min"), "{:.0%}")
    add("Training steps run", training.get("steps_run"), "{}")
    add("Training time (s)", training.get("seconds"), "{:.0f}")
    add("Export time (s)", manifest.get("export_s"), "{:.1f}")
    add("Parity: effect correlation", parity.get("delta_correlation"), "{:.3f}")
    if training.get("stopped_by_guard"):
        out.append(("Stopped early", f"at step {training.get('kept_step')} (no-harm guard)"))
    return out
