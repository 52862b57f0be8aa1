"""Run a merge: check the parents agree, merge tensor by tensor, assemble the new adapter.

The merged adapter writes its own alpha equal to its rank (llama.cpp scale 1): each parent's
alpha/r was folded into its factors first, so nothing depends on the parents' scales.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from app.adapters.lora_file import LoraAdapter
from app.adapters.merge.base import (
    MergeMethod,
    MergeOptions,
    MergeReport,
    TensorContext,
    TensorMerge,
    TensorReport,
    get_method,
)
from app.adapters.merge.svd import pad_rank
from app.adapters.merge.workspace import Workspace, merge_threads
from app.cancel import CancelToken
from app.errors import AdapterError

Progress = Callable[[int, int], None]  # (tensors done, tensors in all)


@dataclass
class MergeResult:
    adapter: LoraAdapter
    report: MergeReport


def make_options(method: str | MergeMethod, **values: Any) -> MergeOptions:
    """Build the method's options from keyword values, ignoring those left as None."""
    impl = get_method(method) if isinstance(method, str) else method
    known = {f.name for f in dataclasses.fields(impl.options_type)}
    given = {k: v for k, v in values.items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise AdapterError(f"{impl.name} does not take {', '.join(unknown)}")
    if "weights" in given:
        given["weights"] = tuple(float(w) for w in given["weights"])
    return impl.options_type(**given)


def merge_adapters(
    parents: Sequence[LoraAdapter],
    method: str | MergeMethod,
    options: MergeOptions | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    parent_ids: Sequence[Any] | None = None,
    threads: int | None = None,
    pause: Callable[[], None] | None = None,
) -> MergeResult:
    """Merge `parents` with `method`, tensor by tensor.

    `threads` tensors are merged at once, each with single-threaded BLAS (OpenBLAS threads
    spin-wait like llama.cpp's when a core is busy), so peak memory is `threads` dense deltas.
    None: `workspace.merge_threads()`, every core when the machine is idle, else one.
    `pause` is called before each tensor and returns when the merge may go on (the product's
    blocks while a reply streams, so that chat keeps the cores).
    """
    count = merge_threads() if threads is None else max(1, threads)
    with _blas_threads(1):
        return _merge(parents, method, options, progress, cancel, parent_ids, count, pause)


def _merge(
    parents: Sequence[LoraAdapter],
    method: str | MergeMethod,
    options: MergeOptions | None,
    progress: Progress | None,
    cancel: CancelToken | None,
    parent_ids: Sequence[Any] | None,
    threads: int,
    pause: Callable[[], None] | None = None,
) -> MergeResult:
    impl = get_method(method) if isinstance(method, str) else method
    options = options if options is not None else impl.options_type()
    if not isinstance(options, impl.options_type):
        raise AdapterError(f"{impl.name} needs {impl.options_type.__name__}")
    if len(parents) < 2:
        raise AdapterError("a merge needs at least two adapters")
    impl.check(options, len(parents))
    shapes = _check_compatible(parents)
    rank = impl.default_rank(options, [p.rank for p in parents])
    started = time.perf_counter()
    names = sorted(shapes)
    merged: dict[str, tuple[Any, Any]] = {}
    reports: list[TensorReport] = []

    # One workspace per worker, handed from tensor to tensor; gone when the merge ends.
    workspaces: queue.SimpleQueue[Workspace] = queue.SimpleQueue()
    for _ in range(threads):
        workspaces.put(Workspace())

    def one(name: str) -> TensorMerge:
        if pause is not None:
            pause()
        if cancel is not None:
            cancel.raise_if_cancelled()
        factors = [p.scaled_factors(name) if name in p.tensors else None for p in parents]
        workspace = workspaces.get()
        try:
            ctx = TensorContext(name, shapes[name], options.seed, workspace)
            return impl.merge_tensor(factors, options, rank, ctx)
        finally:
            workspaces.put(workspace)

    with ThreadPoolExecutor(threads, thread_name_prefix="hearth-merge") as pool:
        # map runs at most `threads` tensors at once; results are small factors
        results = pool.map(one, names) if threads > 1 else map(one, names)
        for index, (name, result) in enumerate(zip(names, results, strict=True)):
            _collect(merged, reports, name, result)
            if progress is not None:
                progress(index + 1, len(names))
    out_rank = max(a.shape[0] for a, _ in merged.values())
    for name, (a, b) in merged.items():
        merged[name] = pad_rank(a, b, out_rank)
    ids = list(parent_ids) if parent_ids is not None else list(range(len(parents)))
    report = MergeReport(
        impl.name,
        options.to_dict(),
        out_rank,
        time.perf_counter() - started,
        reports,
        [{"id": i, "rank": p.rank, "alpha": p.alpha} for i, p in zip(ids, parents, strict=True)],
        threads=threads,
    )
    metadata = {"merge": {"method": impl.name, "options": options.to_dict(), "parents": ids}}
    adapter = LoraAdapter(parents[0].architecture, float(out_rank), out_rank, merged, metadata)
    return MergeResult(adapter, report)


def _collect(
    merged: dict[str, tuple[Any, Any]], reports: list[TensorReport], name: str, result: TensorMerge
) -> None:
    merged[name] = (result.a, result.b)
    reports.append(TensorReport(name, result.a.shape[0], result.energy_kept, result.sign_conflict))


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not installed: BLAS keeps its own default
        yield
        return
    with threadpool_limits(limits=max(1, threads), user_api="blas"):
        yield


def _check_compatible(parents: Sequence[LoraAdapter]) -> dict[str, tuple[int, int]]:
    """The union of the parents' tensors with their (out, in) shapes; refuses disagreements."""
    arch = parents[0].architecture
    shapes: dict[str, tuple[int, int]] = {}
    for number, parent in enumerate(parents, start=1):
        if parent.architecture != arch:
            raise AdapterError(
                f"adapter {number} is for '{parent.architecture}', adapter 1 for '{arch}'"
            )
        for name, (a, b) in parent.tensors.items():
            shape = (b.shape[0], a.shape[1])
            if shapes.setdefault(name, shape) != shape:
                raise AdapterError(
                    f"adapter {number}: tensor '{name}' is {shape}, another adapter's is "
                    f"{shapes[name]} (made for different models)"
                )
    return shapes
