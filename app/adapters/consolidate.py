"""Consolidation: fold each new personal adapter into the one preference adapter, and prove
the merge kept what each parent taught before activating it.

`merge_versions` merges stored versions into a new version (file, manifest with lineage, merge
report and each parent's retained effect). `consolidate` is what runs after a new adapter
passes its gate: merge it into the current preference adapter at the configured rank, activate
the result only if every parent keeps its effect, else keep the previous adapter and say why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.adapters.merge import MergeOptions, get_method, merge_adapters
from app.adapters.merge.runner import Progress
from app.cancel import CancelToken
from app.errors import AdapterError

# Chosen by measurement (tests/benchmarks/merge.py --real, two adapters trained on the default
# model, the second from answers given with the first active): TIES at density 0.5 kept 99% of
# each parent's effect with +2.8% neutral perplexity; the plain sum (cat, linear) kept 88% and
# cost +14.5%, because both adapters had learnt the shared part and the sum counts it twice.
DEFAULT_METHOD = "ties"
MIN_RETAINED = 0.8  # each parent must keep at least this share of its effect
MAX_NEUTRAL_RISE = 0.05  # the same no-harm bound as the training gate
REPLY_POLL_S = 0.05  # how soon a paused merge goes on once the reply has ended


@dataclass
class MergeOutcome:
    adapter_id: int | None
    name: str
    passed: bool
    activated: bool
    reason: str
    report: dict[str, Any] = field(default_factory=dict)
    effects: list[dict[str, Any]] = field(default_factory=list)
    neutral_ppl_ratio: float | None = None
    previous_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preference_rank(core: Any) -> int:
    """The rank the preference adapter is kept at (the user's setting)."""
    settings = getattr(core, "settings", None)
    value = getattr(settings, "preference_rank", None) or getattr(settings, "adapter_rank", None)
    return max(1, int(value or 8))


def while_replying(engine: Any, cancel: CancelToken | None) -> Callable[[], None]:
    """Blocks while the chat model is busy with a reply: the merge's threads (every core on an
    idle machine) would take the cores a streaming answer needs. Training pauses the same way."""

    def wait() -> None:
        while getattr(engine, "busy", False) and not (cancel is not None and cancel.cancelled):
            time.sleep(REPLY_POLL_S)

    return wait


def merge_versions(
    service: Any,
    ids: Sequence[int],
    method: str = DEFAULT_METHOD,
    options: MergeOptions | None = None,
    *,
    evaluate: bool = True,
    activate: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> MergeOutcome:
    """Merge stored adapter versions into a new stored version; evaluate; maybe activate."""
    from app.adapters import export
    from app.adapters.lora_file import base_model_info, read_lora, write_lora

    if len(set(ids)) < 2:
        raise AdapterError("choose at least two different adapters to merge")
    parents = [service.versions.get(i) for i in ids]
    for version in parents:
        if version.path is None or not Path(version.path).is_file():
            raise AdapterError(f"adapter {version.id} ({version.name}) has no file to merge")
        service.check(version.path)
    base = service.base_model()
    info = base_model_info(base.path)
    if options is None:
        options = get_method(method).options_type(rank=preference_rank(service.core))
    loaded = [read_lora(v.path, info) for v in parents]
    result = merge_adapters(
        loaded,
        method,
        options,
        progress=progress,
        cancel=cancel,
        parent_ids=list(ids),
        pause=while_replying(service.engine, cancel),
    )
    name = f"merged-{time.strftime('%Y%m%d-%H%M%S')}-{'-'.join(str(i) for i in ids)}"
    dest = paths.adapters_dir() / f"{name}.gguf"
    result.adapter.metadata["name"] = name
    write_lora(dest, result.adapter)
    try:
        effects, ratio = _evaluate(service, dest, parents, cancel) if evaluate else ([], None)
    except BaseException:  # cancelled or failed: the unregistered file is not left behind
        dest.unlink(missing_ok=True)
        raise
    passed, reason = judge(effects, ratio, ids) if evaluate else (True, "not evaluated")
    result.report.retained = {
        str(e["id"]): share for e in effects if (share := kept_share(e)) is not None
    }
    held = [i for v in parents for i in held_back_ids(v.manifest)]
    manifest = {
        "format": "hearth-adapter/1",
        "name": name,
        "kind": "merged",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base": parents[0].manifest.get("base", {"sha256": base.sha256, "name": base.name}),
        "architecture": result.adapter.architecture,
        "rank": result.adapter.rank,
        "alpha": result.adapter.alpha,
        "targets": sorted(result.adapter.tensors),
        "parents": list(ids),
        "merge": result.report.to_dict(),
        "dataset": {"held_back_ids": held, "held_examples": len(held)},
        "evaluation": _figures(effects, ratio),
        "gate": {"passed": passed, "reason": reason},
    }
    export.write_manifest(dest, manifest)
    status = "ready" if passed else "rejected"
    adapter_id = service.versions.add(name, dest, manifest, status=status, parents=list(ids))
    activated = False
    if activate and passed:
        service.activate(adapter_id)
        activated = True
    return MergeOutcome(
        adapter_id, name, passed, activated, reason, result.report.summary(), effects, ratio
    )


def consolidate(
    service: Any,
    new_id: int,
    *,
    method: str = DEFAULT_METHOD,
    options: MergeOptions | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> MergeOutcome:
    """Merge adapter `new_id` (which passed its gate) into the current preference adapter."""
    previous = _current_preference(service, new_id)
    if previous is None:
        service.activate(new_id)
        return MergeOutcome(
            new_id,
            service.versions.get(new_id).name,
            True,
            True,
            "the first personal adapter becomes the preference adapter",
        )
    if supersedes(service, new_id, previous):
        # The new adapter has learnt every example the previous one did, and the new ones, in
        # one set of weights: trained on all the stored feedback, or continued from the
        # previous adapter (app.adapters.continuation). Merging the two would count the old
        # preference twice.
        service.activate(new_id)
        outcome = MergeOutcome(
            new_id,
            service.versions.get(new_id).name,
            True,
            True,
            f"trained on all the feedback adapter {previous} learnt from and the new: it "
            f"replaces adapter {previous}",
        )
        outcome.previous_id = previous
        return outcome
    outcome = merge_versions(
        service,
        [previous, new_id],
        method,
        options,
        activate=True,
        progress=progress,
        cancel=cancel,
    )
    outcome.previous_id = previous
    if not outcome.activated:
        if service.versions.active_id() != previous:
            service.activate(previous)
        outcome.reason = f"kept adapter {previous}: {outcome.reason}"
    return outcome


def learnt_from(service: Any, adapter_id: int, depth: int = 0) -> set[int] | None:
    """Feedback ids an adapter learnt from (a merge: its parents'); None when unknown (an
    imported adapter, or one from before the ids were kept)."""
    version = service.versions.get(adapter_id)
    manifest = version.manifest or {}
    ids = (manifest.get("dataset") or {}).get("feedback_ids")
    if manifest.get("kind") == "personal" and not manifest.get("source") and ids is not None:
        try:
            return {int(i) for i in ids}
        except (TypeError, ValueError):  # a damaged manifest: unknown, so merged, never assumed
            return None
    parents = manifest.get("parents") or []
    if manifest.get("kind") != "merged" or not parents or depth > 32:
        return None
    out: set[int] = set()
    for parent in parents:
        if not isinstance(parent, int):
            return None
        got = learnt_from(service, parent, depth + 1)
        if got is None:
            return None
        out |= got
    return out


def supersedes(service: Any, new_id: int, previous_id: int) -> bool:
    """True when the new adapter learnt from every feedback example the previous one did."""
    new, old = learnt_from(service, new_id), learnt_from(service, previous_id)
    return new is not None and old is not None and old <= new


def kept_share(effect: dict[str, Any]) -> float | None:
    """A parent's retention for the gate: the lower of its likelihood and first-choice shares."""
    shares = [effect.get(k) for k in ("retained", "retained_top1")]
    known = [float(v) for v in shares if v is not None]
    return min(known) if known else None


def judge(
    effects: Sequence[dict[str, Any]],
    neutral_ratio: float | None,
    parent_ids: Sequence[Any] = (),
) -> tuple[bool, str]:
    """(activate?, why) from each parent's retained effect and the neutral perplexity. A parent
    whose effect could not be measured (no held-back examples, or no effect on them) is named,
    never silently left out; its retention cannot refuse the merge."""
    measured = [(e, share) for e in effects if (share := kept_share(e)) is not None]
    lost = [(e, share) for e, share in measured if share < MIN_RETAINED]
    parts = [f"adapter {e['id']} keeps {share:.0%} of its effect" for e, share in measured]
    seen = {str(e["id"]) for e, _share in measured}
    unmeasured = [str(i) for i in dict.fromkeys([*parent_ids, *(e["id"] for e in effects)])]
    unmeasured = [i for i in unmeasured if i not in seen]
    if unmeasured:
        which = ", ".join(unmeasured)
        parts.append(f"not measured (no held-back examples or no effect on them): adapter {which}")
    text = "; ".join(parts) if parts else "no parent had a measurable effect to keep"
    if lost:
        worst, share = min(lost, key=lambda pair: pair[1])
        return False, (
            f"adapter {worst['id']} would keep only {share:.0%} of its effect "
            f"(needs {MIN_RETAINED:.0%}); {text}"
        )
    if neutral_ratio is not None and neutral_ratio > 1.0 + MAX_NEUTRAL_RISE:
        return False, f"neutral perplexity would rise {(neutral_ratio - 1):.1%} (max 5%); {text}"
    return True, text


def _figures(effects: Sequence[dict[str, Any]], ratio: float | None) -> dict[str, Any]:
    """The evaluation block of the manifest, with the same summary keys a trained adapter has."""
    if not effects or ratio is None:
        return {"parents": list(effects)} if effects else {}
    figures: dict[str, Any] = {"parents": list(effects)}
    count = sum(e["examples"] for e in effects)
    if count:
        figures["held_examples"] = float(count)
        for key, field_name in (("held_nll_base", "nll_base"), ("held_nll_adapter", "nll_merged")):
            figures[key] = sum(e[field_name] * e["examples"] for e in effects) / count
    kept = [share for e in effects if (share := kept_share(e)) is not None]
    figures["retained_min"] = min(kept) if kept else None
    figures["neutral_ppl_ratio"] = ratio
    return figures


def held_back_ids(manifest: dict[str, Any]) -> list[int]:
    """Feedback ids of an adapter's held-back examples (older manifests kept rows with text)."""
    data = manifest.get("dataset", {})
    if "held_back_ids" in data:
        return [int(i) for i in data["held_back_ids"]]
    rows = data.get("held_back", [])
    return [int(r["feedback_id"]) for r in rows if isinstance(r, dict) and r.get("feedback_id")]


def held_examples(service: Any, manifest: dict[str, Any]) -> list[Any]:
    """The held-back examples, read from the feedback they came from; feedback the user has
    deleted is gone from here too. A manifest from before ids still carries its rows."""
    from app.adapters.dataset import examples_from_feedback
    from app.adapters.merge import retention

    if "held_back_ids" not in manifest.get("dataset", {}):
        return retention.held_examples(manifest)
    ids = held_back_ids(manifest)
    wanted = set(ids)
    items = [f for f in service.feedback.list() if f.id in wanted]
    found = {e.feedback_id: e for e in examples_from_feedback(items)}
    return [found[i] for i in ids if i in found]


def _current_preference(service: Any, new_id: int) -> int | None:
    """The preference adapter the new one merges into: the active one, or if the new adapter
    was already activated by its gate, whatever was active before it."""
    active = service.versions.active_id()
    if active is not None and active != new_id:
        return int(active)
    for entry in reversed(service.versions.history()):
        adapter_id = entry[-2]  # entries end with (adapter id or None, scale)
        if adapter_id is not None and adapter_id != new_id:
            version = service.versions.get(adapter_id)
            if version.path is not None and Path(version.path).is_file():
                return int(adapter_id)
            return None
        if adapter_id is None:
            return None
    return None


class _CancellableScorer:
    """A scorer that checks the cancel token before each adapter switch and each forward pass,
    so a cancelled retention check stops within one sequence instead of running to its end."""

    def __init__(self, scorer: Any, cancel: CancelToken | None) -> None:
        self._scorer = scorer
        self._cancel = cancel

    def _check(self) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()

    def use(self, adapter: Path | None, scale: float = 1.0) -> None:
        self._check()
        self._scorer.use(adapter, scale)

    def logits(self, ids: Sequence[int]) -> Any:
        self._check()
        return self._scorer.logits(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scorer, name)


def _evaluate(
    service: Any, merged: Path, parents: Sequence[Any], cancel: CancelToken | None = None
) -> tuple[list[dict[str, Any]], float | None]:
    from app.adapters.merge import retention
    from app.adapters.scoring import LlamaScorer

    if cancel is not None:
        cancel.raise_if_cancelled()
    system = getattr(getattr(service.core, "settings", None), "system_prompt", None)
    real = LlamaScorer(service.base_model().path, n_threads=1)
    scorer = _CancellableScorer(real, cancel)
    try:
        triples = [(v.id, Path(v.path), held_examples(service, v.manifest)) for v in parents]
        effects = retention.measure(scorer, merged, triples, system)
        ratio = retention.neutral_ratio(scorer, merged)
    finally:
        real.close()
    return [e.to_dict() for e in effects], ratio
