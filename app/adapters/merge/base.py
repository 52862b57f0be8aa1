"""The shape every merge method shares: frozen options, a per-tensor merge, a report, a registry.

A method sees one base tensor at a time: each parent's factors with its alpha/r scale already
folded into B (so each parent's delta is exactly `B @ A`), and returns the merged factors.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from app.adapters.lora_file import FloatArray
from app.adapters.merge.workspace import Workspace
from app.errors import AdapterError

Factors = tuple[FloatArray, FloatArray]  # (A: r x in, B: out x r), delta = B @ A
SMALL_TENSOR_ENTRIES = 1 << 20  # a 135M model's largest tensor has 0.9 M, a 3B model's 25 M


@dataclass(frozen=True)
class MergeOptions:
    """Options every method takes. `rank` cuts the result by SVD; None keeps it (cat, linear)
    or uses the largest parent rank (methods that work on dense deltas)."""

    weights: tuple[float, ...] | None = None
    rank: int | None = None
    seed: int = 0
    # Power iterations of the randomized cut; None: one for tensors up to a million entries
    # (cheap there), none above, where the sketch's start from the parents' row space already
    # keeps what the exact cut keeps (svd.py) and each iteration is two more passes.
    power_iters: int | None = None
    oversample: int = 8

    def weight_list(self, n_parents: int) -> list[float]:
        if self.weights is None:
            return [1.0] * n_parents
        if len(self.weights) != n_parents:
            raise AdapterError(
                f"{len(self.weights)} weights given for {n_parents} adapters; give one each"
            )
        return [float(w) for w in self.weights]

    def power_iterations(self, shape: tuple[int, int]) -> int:
        if self.power_iters is not None:
            return self.power_iters
        return 1 if shape[0] * shape[1] <= SMALL_TENSOR_ENTRIES else 0

    def validate(self) -> None:
        if self.rank is not None and self.rank < 1:
            raise AdapterError("the target rank must be at least 1")
        if (self.power_iters or 0) < 0 or self.oversample < 0:
            raise AdapterError("power iterations and oversampling cannot be negative")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data.get("weights") is not None:
            data["weights"] = list(data["weights"])
        return data


@dataclass(frozen=True)
class TensorContext:
    """Where a method is: the tensor's name and shape, a generator seeded for this tensor, and
    the worker's reusable buffers (None: the method allocates its own)."""

    name: str
    shape: tuple[int, int]  # (out, in)
    seed: int
    workspace: Workspace | None = field(default=None, compare=False)

    def rng(self, stream: int = 0) -> np.random.Generator:
        # Seeded by name, not position: the same tensor gets the same draws in any order.
        return np.random.default_rng([self.seed, zlib.crc32(self.name.encode()), stream])


@dataclass
class TensorMerge:
    """One merged tensor: factors plus what the report says about it."""

    a: FloatArray
    b: FloatArray
    energy_kept: float = 1.0  # |cut delta|^2 / |uncut delta|^2 (1.0 when nothing was cut)
    sign_conflict: float = 0.0  # share of entries, among those two or more parents touch,
    # where the parents' signs disagree


@dataclass
class TensorReport:
    name: str
    rank: int
    energy_kept: float
    sign_conflict: float


@dataclass
class MergeReport:
    """What a merge did, tensor by tensor, plus the summary figures a person reads."""

    method: str
    options: dict[str, Any]
    rank: int
    seconds: float = 0.0
    tensors: list[TensorReport] = field(default_factory=list)
    parents: list[dict[str, Any]] = field(default_factory=list)
    retained: dict[str, float] = field(default_factory=dict)  # filled in by evaluation
    threads: int = 1  # tensors merged at once

    @property
    def energy_kept_min(self) -> float:
        return min((t.energy_kept for t in self.tensors), default=1.0)

    @property
    def energy_kept_mean(self) -> float:
        return float(np.mean([t.energy_kept for t in self.tensors])) if self.tensors else 1.0

    @property
    def sign_conflict_mean(self) -> float:
        return float(np.mean([t.sign_conflict for t in self.tensors])) if self.tensors else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "options": self.options,
            "rank": self.rank,
            "seconds": round(self.seconds, 3),
            "threads": self.threads,
            "tensors": len(self.tensors),
            "energy_kept_min": round(self.energy_kept_min, 6),
            "energy_kept_mean": round(self.energy_kept_mean, 6),
            "sign_conflict_mean": round(self.sign_conflict_mean, 6),
            "parents": self.parents,
            "retained": self.retained,
        }

    def to_dict(self) -> dict[str, Any]:
        data = self.summary()
        data["per_tensor"] = [asdict(t) for t in self.tensors]
        return data


class MergeMethod(ABC):
    """One merge method; subclasses register themselves with `@register`."""

    name: ClassVar[str]
    options_type: ClassVar[type[MergeOptions]] = MergeOptions
    description: ClassVar[str] = ""
    dense: ClassVar[bool] = False  # True when it needs each tensor's dense delta

    def default_rank(self, options: MergeOptions, parent_ranks: Sequence[int]) -> int | None:
        """The rank the result is cut to when the options name none."""
        if options.rank is not None:
            return options.rank
        return max(parent_ranks) if self.dense else None

    def check(self, options: MergeOptions, n_parents: int) -> None:
        """Refuse options that make no sense for this method (raises AdapterError)."""
        options.validate()
        options.weight_list(n_parents)

    @abstractmethod
    def merge_tensor(
        self,
        parents: Sequence[Factors | None],
        options: MergeOptions,
        rank: int | None,
        ctx: TensorContext,
    ) -> TensorMerge:
        """Merge one tensor; a parent without this tensor is None (its delta is zero)."""


_REGISTRY: dict[str, type[MergeMethod]] = {}


def register(cls: type[MergeMethod]) -> type[MergeMethod]:
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> MergeMethod:
    from app.adapters.merge import _load_all

    _load_all()
    try:
        return _REGISTRY[name]()
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise AdapterError(f"unknown merge method '{name}' (known: {known})") from None


def method_names() -> list[str]:
    from app.adapters.merge import _load_all

    _load_all()
    return sorted(_REGISTRY)
