"""The lineage of adapter versions as a tree: each merged adapter over the ones it was made of.

Built from the versions' `parents` (the database column mirrors the manifest), for the CLI's
`adapters list --tree` and the window's lineage view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LineageNode:
    id: int
    name: str
    kind: str  # 'personal', 'merged', 'imported', ...
    status: str
    created_at: str
    method: str | None = None
    retained_min: float | None = None
    active: bool = False
    children: list[LineageNode] = field(default_factory=list)  # the parents it was made from

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "method": self.method,
            "retained_min": self.retained_min,
            "active": self.active,
            "parents": [c.to_dict() for c in self.children],
        }

    def lines(self, depth: int = 0) -> list[str]:
        """The tree as indented text, newest merge first."""
        how = f" [{self.method}]" if self.method else ""
        kept = f" kept>={self.retained_min:.0%}" if self.retained_min is not None else ""
        mark = " *active*" if self.active else ""
        own = f"{'  ' * depth}{self.id} {self.name} ({self.kind}, {self.status}){how}{kept}{mark}"
        return [own] + [line for c in self.children for line in c.lines(depth + 1)]


def _kind(version: Any) -> str:
    if version.parents:
        return "merged"
    return "imported" if version.status == "imported" else "personal"


def lineage(versions: Sequence[Any], active_id: int | None = None) -> list[LineageNode]:
    """Roots (versions no merge was made from), newest first, each with its parents below."""
    by_id = {v.id: v for v in versions}
    used = {p for v in versions for p in v.parents}

    def node(version: Any, seen: frozenset[int]) -> LineageNode:
        manifest = version.manifest or {}
        merge = manifest.get("merge") or {}
        retained = [r for r in (merge.get("retained") or {}).values() if r is not None]
        here = LineageNode(
            id=version.id,
            name=version.name,
            kind=str(manifest.get("kind") or _kind(version)),
            status=version.status,
            created_at=version.created_at,
            method=merge.get("method"),
            retained_min=min(retained) if retained else None,
            active=version.id == active_id,
        )
        for parent_id in version.parents:
            if parent_id in by_id and parent_id not in seen:  # a cycle would be a bug; stop it
                here.children.append(node(by_id[parent_id], seen | {version.id}))
        return here

    roots = [v for v in versions if v.id not in used]
    return [node(v, frozenset()) for v in sorted(roots, key=lambda v: v.id, reverse=True)]
