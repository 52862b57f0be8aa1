"""The entry-wise merge path against plain numpy: TIES on whole matrices, the exact SVD, the
previous randomized cut (random start, one power iteration), and the thread choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.adapters.lora_file import LoraAdapter
from app.adapters.merge import merge_adapters
from app.adapters.merge.dare import DareOptions
from app.adapters.merge.dense import kth_largest
from app.adapters.merge.svd import dense_cut
from app.adapters.merge.ties import TiesOptions
from app.adapters.merge.workspace import Workspace, idle_threads, merge_threads


def parent(seed: int, rank: int, shapes: dict[str, tuple[int, int]]) -> LoraAdapter:
    rng = np.random.default_rng(seed)
    tensors = {
        name: (
            rng.standard_normal((rank, i), dtype=np.float32) / np.float32(math.sqrt(i)),
            rng.standard_normal((o, rank), dtype=np.float32) * np.float32(0.01),
        )
        for name, (o, i) in shapes.items()
    }
    return LoraAdapter("llama", float(rank), rank, tensors)  # scale 1: delta = B @ A


def reference_ties(deltas: list[np.ndarray], density: float, weights: list[float]) -> np.ndarray:
    """TIES as the paper states it, on whole float64 matrices: keep each delta's top `density`
    share by magnitude, elect the sign of the weighted sum, weighted mean of the agreeing."""
    trimmed = []
    for delta in deltas:
        flat = np.abs(delta).ravel()
        keep = max(1, math.ceil(density * flat.size - 1e-9))
        threshold = np.partition(flat, flat.size - keep)[flat.size - keep]
        trimmed.append(np.where(np.abs(delta) >= threshold, delta, 0.0).astype(np.float64))
    weighted = [w * t for w, t in zip(weights, trimmed, strict=True)]
    sign = np.sign(sum(weighted))
    agree = [(t * sign > 0) for t in trimmed]
    num = sum(w * t * a for w, t, a in zip(weights, trimmed, agree, strict=True))
    den = sum(w * a for w, a in zip(weights, agree, strict=True))
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


SHAPES = {"blk.0.attn_q.weight": (48, 40), "blk.0.ffn_down.weight": (40, 96)}


@pytest.mark.parametrize(
    ("n_parents", "weights"),
    [(2, None), (2, (0.5, 2.0)), (3, None), (3, (1.0, 0.25, 3.0))],
)
def test_uncut_ties_equals_the_whole_matrix_reference(n_parents: int, weights: tuple | None):
    # Two parents of equal weight take the short path; the others the general one.
    parents = [parent(10 + k, 6, SHAPES) for k in range(n_parents)]
    options = TiesOptions(density=0.4, rank=40, weights=weights)  # rank >= min(shape): no cut
    merged = merge_adapters(parents, "ties", options).adapter
    for name in SHAPES:
        expected = reference_ties(
            [p.delta(name) for p in parents], 0.4, list(weights or [1.0] * n_parents)
        )
        got = merged.delta(name).astype(np.float64)
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


def test_two_parent_election_handles_zeros_and_exact_ties() -> None:
    d1 = np.array([[2.0, -2.0, 0.0, 1.0], [0.0, 3.0, -1.0, -5.0]], np.float32)
    d2 = np.array([[-2.0, 2.0, 0.0, 3.0], [4.0, -1.0, -1.0, 0.0]], np.float32)
    eye = np.eye(4, dtype=np.float32)
    parents = [
        LoraAdapter("llama", 4.0, 4, {"t": (eye, d1)}),
        LoraAdapter("llama", 4.0, 4, {"t": (eye, d2)}),
    ]
    result = merge_adapters(parents, "ties", TiesOptions(density=1.0, rank=4))
    expected = reference_ties([d1, d2], 1.0, [1.0, 1.0])
    np.testing.assert_allclose(result.adapter.delta("t"), expected, atol=1e-6)
    # opposite signs of equal size elect nothing: the entry stays zero
    assert result.adapter.delta("t")[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_rank_cut_keeps_what_the_exact_svd_keeps_within_half_a_percent() -> None:
    # Large enough for the randomized cut (sketch narrower than the matrix).
    shapes = {"blk.0.ffn_up.weight": (320, 256), "blk.0.attn_k.weight": (128, 640)}
    p1, p2 = parent(1, 8, shapes), parent(2, 8, shapes)
    cut = merge_adapters([p1, p2], "ties", TiesOptions(density=0.5, rank=8))
    full = merge_adapters([p1, p2], "ties", TiesOptions(density=0.5, rank=640)).adapter
    for report in cut.report.tensors:
        dense = full.delta(report.name).astype(np.float64)
        s = np.linalg.svd(dense, compute_uv=False)
        best = float((s[:8] ** 2).sum() / (s**2).sum())
        got = cut.adapter.delta(report.name).astype(np.float64)
        # the reported share is what the factors hold, and the cut is a projection of the delta
        assert float((got**2).sum() / (dense**2).sum()) == pytest.approx(report.energy_kept, 1e-3)
        residual = float(((dense - got) ** 2).sum() / (dense**2).sum())
        assert residual == pytest.approx(1 - report.energy_kept, abs=1e-4)
        assert best * 0.995 <= report.energy_kept <= best + 1e-6
        # and at least what the previous cut kept (random start, one power iteration)
        rng = np.random.default_rng(0)
        _, _, before = dense_cut(dense.astype(np.float32), 8, rng, power_iters=1)
        assert report.energy_kept >= before - 2e-3


def test_one_workspace_across_shapes_gives_what_fresh_buffers_give() -> None:
    shapes = {
        "blk.0.ffn_up.weight": (300, 200),
        "blk.0.attn_k.weight": (60, 200),
        "blk.1.ffn_down.weight": (200, 300),
        "blk.1.attn_q.weight": (10, 12),
    }
    p1, p2 = parent(3, 4, shapes), parent(4, 4, shapes)
    for method, options in [
        ("ties", TiesOptions(rank=4)),
        ("dare", DareOptions(rank=4, variant="ties", seed=3)),
        ("dare", DareOptions(rank=4, seed=3)),
    ]:
        together = merge_adapters([p1, p2], method, options, threads=1).adapter
        for name in shapes:
            alone = [LoraAdapter("llama", 4.0, 4, {name: p.tensors[name]}) for p in (p1, p2)]
            single = merge_adapters(alone, method, options, threads=1).adapter
            np.testing.assert_array_equal(together.tensors[name][0], single.tensors[name][0])
            np.testing.assert_array_equal(together.tensors[name][1], single.tensors[name][1])


def test_workspace_views_grow_and_keep_their_shape() -> None:
    ws = Workspace()
    small = ws.array("x", (2, 3))
    assert small.shape == (2, 3) and small.flags.c_contiguous
    big = ws.array("x", (40, 50))
    assert big.shape == (40, 50) and not np.shares_memory(small, big)
    again = ws.array("x", (5, 7))
    assert np.shares_memory(again, big) and again.flags.c_contiguous
    assert ws.array("m", (3,), np.bool_).dtype == np.bool_


def test_threads_follow_the_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert idle_threads(2, 0.4) == 2  # load below cores - 1: the other core is idle
    assert idle_threads(2, 1.3) == 1
    assert idle_threads(1, 0.0) == 1
    assert idle_threads(8, 3.0) == 4  # at most MAX_THREADS dense buffers at once
    assert idle_threads(8, 7.5) == 1
    monkeypatch.setenv("HEARTH_THREADS", "1")
    assert merge_threads() == 1
    p1, p2 = parent(5, 4, SHAPES), parent(6, 4, SHAPES)
    assert merge_adapters([p1, p2], "ties").report.threads == 1
    monkeypatch.setenv("HEARTH_THREADS", "3")
    report = merge_adapters([p1, p2], "ties").report
    assert report.threads == 3 and report.summary()["threads"] == 3


def test_exact_threshold_is_the_kth_largest_whatever_the_sample() -> None:
    rng = np.random.default_rng(7)
    values = np.abs(rng.standard_normal(200_000, dtype=np.float32))
    values[:5000] = values[5000]  # many equal magnitudes around one rank
    ordered = np.sort(values)[::-1]
    for k in (1, 17, 5000, 5001, 100_000, 199_999, 200_000):
        for seed in range(3):
            got = kth_largest(values, k, np.random.default_rng(seed))
            assert got == ordered[k - 1]


def test_a_merge_waits_while_a_reply_streams() -> None:
    """The product's merge pauses before each tensor while the chat model is busy (its threads
    would take the cores a streaming answer needs) and goes on when the reply ends."""
    import threading

    from app.adapters.consolidate import while_replying

    class Engine:
        busy = True

    engine, done = Engine(), []
    parents = [parent(1, 4, SHAPES), parent(2, 4, SHAPES)]
    started = threading.Event()

    def pause() -> None:
        started.set()
        while_replying(engine, None)()

    worker = threading.Thread(
        target=lambda: done.append(
            merge_adapters(parents, "ties", TiesOptions(rank=4), threads=2, pause=pause)
        )
    )
    worker.start()
    assert started.wait(30)
    assert worker.is_alive() and done == []  # held before its first tensor
    engine.busy = False
    worker.join(60)
    assert len(done) == 1 and set(done[0].adapter.tensors) == set(SHAPES)
