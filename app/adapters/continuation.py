"""A new preference taught on top of the adapter in use, instead of from scratch on everything.

Measured (tests/benchmarks/learning.py --only two: bullet points taught first, then a signature
added to answers given with that adapter active): training from scratch on all the stored
feedback (rehearsal) kept the bullet points in 11 of 12 held-out answers but the signature in
5 of 12 (42% of what it showed alone). The older examples end where the newer ones add a
line, and 24 against 16 they won: the stored feedback of two preferences disagrees wherever the
newer one changes what the older one's answers left as they were.

Continuing instead: the new adapter starts from the one in use, at the strength in use, learns
only the feedback that one has not seen, and holds the words the user kept to what the model
in use predicts there (not to the base). The older preference lives on in the weights it is
already in; the newer feedback, given on answers of the model in use, wins where they
disagree; the adapter keeps its rank. Its manifest counts every feedback example either one
learnt, so consolidation sees that it replaces the adapter it started from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.adapters.dataset import examples_from_feedback
from app.adapters.feedback import Feedback
from app.errors import AdapterError

# Fewer new examples than this retrain from scratch on everything (the service's own minimum).
MIN_NEW_EXAMPLES = 4


@dataclass(frozen=True)
class Continuation:
    adapter_id: int
    path: Path
    scale: float
    learnt: frozenset[int]  # the feedback ids the adapter in use learnt from

    def unseen(self, items: Sequence[Feedback]) -> list[Feedback]:
        """The feedback the adapter in use did not learn from (stated preferences included)."""
        return [f for f in items if f.id not in self.learnt]

    def spec(self) -> dict[str, Any]:
        return {"adapter_id": self.adapter_id, "path": str(self.path), "scale": self.scale}


def plan(service: Any, items: Sequence[Feedback], rank: int) -> Continuation | None:
    """Continue from the active adapter when it is one Hearth trained (or merged from such),
    its file fits the new adapter's rank, none of the feedback it learnt from was deleted, and
    enough new feedback has come since; else None (train from scratch on all the feedback)."""
    from app.adapters.consolidate import learnt_from
    from app.adapters.export import SUPPORTED_ARCHITECTURES
    from app.adapters.lora_file import read_lora

    version = service.versions.active()
    if version is None or version.path is None or not Path(version.path).is_file():
        return None
    learnt = learnt_from(service, version.id)
    if not learnt:
        return None
    if not learnt <= {f.id for f in items}:
        # The user deleted feedback the adapter in use learnt from: starting from it would
        # keep what they took back. Trained from scratch on what is left instead.
        return None
    try:
        adapter = read_lora(Path(version.path))
    except AdapterError:
        return None
    if adapter.rank > rank or adapter.architecture not in SUPPORTED_ARCHITECTURES:
        return None
    new = [f for f in items if f.id not in learnt]
    if len(examples_from_feedback(new)) < MIN_NEW_EXAMPLES:
        return None
    return Continuation(version.id, Path(version.path), service.versions.scale(), frozenset(learnt))
