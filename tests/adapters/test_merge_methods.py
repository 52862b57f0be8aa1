"""Merge methods against exact arithmetic: cat and linear sums, TIES and DARE by hand."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from app.adapters.lora_file import LoraAdapter
from app.adapters.merge import make_options, merge_adapters, method_names
from app.adapters.merge.dare import DareOptions
from app.adapters.merge.ties import TiesOptions
from app.cancel import CancelToken
from app.errors import AdapterError, Cancelled

D1 = np.array([[3.0, -1.0, 0.5], [2.0, -4.0, 1.0]], np.float32)
D2 = np.array([[-2.0, -3.0, 0.2], [2.5, 5.0, -0.1]], np.float32)
NAME = "blk.0.attn_q.weight"


def dense_parent(delta: np.ndarray, name: str = NAME) -> LoraAdapter:
    """An adapter whose delta is exactly `delta`: A = identity, alpha = rank (scale 1)."""
    rank = delta.shape[1]
    return LoraAdapter("llama", float(rank), rank, {name: (np.eye(rank, dtype=np.float32), delta)})


def random_parent(seed: int, rank: int, alpha: float, shapes: dict[str, tuple[int, int]]):
    rng = np.random.default_rng(seed)
    tensors = {
        n: (
            rng.standard_normal((rank, i), dtype=np.float32),
            rng.standard_normal((o, rank), dtype=np.float32),
        )
        for n, (o, i) in shapes.items()
    }
    return LoraAdapter("llama", alpha, rank, tensors)


SHAPES = {"blk.0.attn_q.weight": (40, 30), "blk.0.ffn_down.weight": (30, 50)}


def test_registry_lists_every_method() -> None:
    assert method_names() == ["cat", "dare", "linear", "ties"]


def test_cat_is_exactly_the_sum_of_the_deltas() -> None:
    p1 = random_parent(1, 4, 8.0, SHAPES)
    p2 = random_parent(2, 2, 1.0, {"blk.0.attn_q.weight": SHAPES["blk.0.attn_q.weight"]})
    merged = merge_adapters([p1, p2], "cat").adapter
    assert merged.rank == 6 and merged.alpha == 6.0  # scale 1: parents' scales folded in
    for name in SHAPES:
        expected = p1.delta(name) + (p2.delta(name) if name in p2.tensors else 0)
        np.testing.assert_allclose(merged.delta(name), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(AdapterError, match="linear"):
        merge_adapters([p1, p2], "cat", make_options("cat", weights=[1, 2]))


def test_linear_is_the_weighted_sum_and_its_cut_is_optimal() -> None:
    p1, p2 = random_parent(3, 4, 4.0, SHAPES), random_parent(4, 3, 6.0, SHAPES)
    merged = merge_adapters([p1, p2], "linear", make_options("linear", weights=[0.25, -1.5]))
    for name in SHAPES:
        expected = 0.25 * p1.delta(name) - 1.5 * p2.delta(name)
        np.testing.assert_allclose(merged.adapter.delta(name), expected, rtol=1e-4, atol=1e-4)
    cut = merge_adapters([p1, p2], "linear", make_options("linear", weights=[0.25, -1.5], rank=3))
    assert cut.adapter.rank == 3
    for report in cut.report.tensors:
        full = 0.25 * p1.delta(report.name) - 1.5 * p2.delta(report.name)
        got = cut.adapter.delta(report.name)
        assert np.linalg.matrix_rank(got, tol=1e-3) == 3
        s = np.linalg.svd(full.astype(np.float64), compute_uv=False)
        best = float((s[:3] ** 2).sum() / (s**2).sum())  # Eckart-Young: nothing keeps more
        kept = float((got.astype(np.float64) ** 2).sum() / (full.astype(np.float64) ** 2).sum())
        assert report.energy_kept == pytest.approx(best, rel=1e-4)
        assert kept == pytest.approx(report.energy_kept, rel=1e-3)
        residual = float(((full - got).astype(np.float64) ** 2).sum() / (full**2).sum())
        assert residual == pytest.approx(1 - report.energy_kept, abs=1e-4)


def test_ties_matches_the_hand_computation() -> None:
    parents = [dense_parent(D1), dense_parent(D2)]
    # density 0.5 keeps 3 of 6: T1 = [[3,0,0],[2,-4,0]], T2 = [[0,-3,0],[2.5,5,0]];
    # elected signs [[+,-,0],[+,+,0]]; mean of the agreeing entries.
    result = merge_adapters(parents, "ties", TiesOptions(density=0.5, rank=3))
    expected = np.array([[3.0, -3.0, 0.0], [2.25, 5.0, 0.0]])
    np.testing.assert_allclose(result.adapter.delta(NAME), expected, atol=1e-5)
    # two entries are touched by both; they disagree at (1, 1)
    assert result.report.tensors[0].sign_conflict == pytest.approx(0.5)
    weighted = merge_adapters(parents, "ties", TiesOptions(density=0.5, rank=3, weights=(1, 3)))
    expected[1, 0] = (2.0 + 3 * 2.5) / 4  # the weighted mean of the two agreeing entries
    np.testing.assert_allclose(weighted.adapter.delta(NAME), expected, atol=1e-5)


def test_dare_without_drops_is_linear_or_ties_without_trim() -> None:
    parents = [dense_parent(D1), dense_parent(D2)]
    plain = merge_adapters(parents, "dare", DareOptions(drop=0.0, rank=3))
    np.testing.assert_allclose(plain.adapter.delta(NAME), D1 + D2, atol=1e-5)
    ties = merge_adapters(parents, "dare", DareOptions(drop=0.0, rank=3, variant="ties"))
    expected = np.array([[3.0, -2.0, 0.35], [2.25, 5.0, 1.0]])
    np.testing.assert_allclose(ties.adapter.delta(NAME), expected, atol=1e-5)


def _kept_masks(seed: int, shape: tuple[int, int], drop: float) -> list[np.ndarray]:
    # The documented seeding: one generator per (merge seed, tensor name, parent).
    streams = [np.random.default_rng([seed, zlib.crc32(NAME.encode()), 10 + i]) for i in (0, 1)]
    return [rng.random(shape, dtype=np.float32) >= np.float32(drop) for rng in streams]


@pytest.mark.parametrize("variant", ["linear", "ties"])
def test_dare_drops_and_rescales_as_computed_by_hand(variant: str) -> None:
    parents = [dense_parent(D1), dense_parent(D2)]
    m1, m2 = _kept_masks(7, D1.shape, 0.4)
    r1, r2 = D1 * m1 / 0.6, D2 * m2 / 0.6
    if variant == "linear":
        expected = r1 + r2
    else:
        sign = np.sign(r1 + r2)
        agree1, agree2 = r1 * sign > 0, r2 * sign > 0
        count = agree1.astype(float) + agree2
        expected = np.where(count > 0, (r1 * agree1 + r2 * agree2) / np.maximum(count, 1), 0)
    options = DareOptions(drop=0.4, rank=3, seed=7, variant=variant)
    result = merge_adapters(parents, "dare", options)
    np.testing.assert_allclose(result.adapter.delta(NAME), expected, atol=1e-4)
    again = merge_adapters(parents, "dare", options)
    assert np.array_equal(again.adapter.delta(NAME), result.adapter.delta(NAME))


def test_dare_rescale_keeps_the_expected_value() -> None:
    rng = np.random.default_rng(0)
    d1 = rng.standard_normal((6, 5)).astype(np.float32)
    d2 = rng.standard_normal((6, 5)).astype(np.float32)
    parents = [dense_parent(d1), dense_parent(d2)]
    runs = np.stack(
        [
            merge_adapters(parents, "dare", DareOptions(drop=0.7, rank=5, seed=s)).adapter.delta(
                NAME
            )
            for s in range(300)
        ]
    )
    mean, stderr = runs.mean(axis=0), runs.std(axis=0) / np.sqrt(len(runs))
    z = np.abs(mean - (d1 + d2)) / stderr
    assert np.median(z) < 1.5 and z.max() < 4.5  # unbiased: E[merged] = d1 + d2
    single = merge_adapters(parents, "dare", DareOptions(drop=0.7, rank=5, seed=1))
    assert not np.allclose(single.adapter.delta(NAME), d1 + d2)  # it does drop


def test_dense_cut_respects_the_rank_and_reports_the_energy_it_keeps() -> None:
    shapes = {"blk.0.ffn_up.weight": (300, 400)}
    p1, p2 = random_parent(5, 8, 8.0, shapes), random_parent(6, 8, 8.0, shapes)
    result = merge_adapters([p1, p2], "ties", TiesOptions(density=0.3, rank=8, power_iters=2))
    name = "blk.0.ffn_up.weight"
    got = result.adapter.delta(name).astype(np.float64)
    assert result.adapter.rank == 8 and np.linalg.matrix_rank(got, tol=1e-3) <= 8
    # rebuild the uncut TIES delta to measure what the cut kept
    full = merge_adapters(
        [p1, p2], "ties", TiesOptions(density=0.3, rank=300, oversample=0)
    ).adapter.delta(name)
    full = full.astype(np.float64)
    report = result.report.tensors[0]
    assert (got**2).sum() / (full**2).sum() == pytest.approx(report.energy_kept, rel=1e-3)
    s = np.linalg.svd(full, compute_uv=False)
    best = (s[:8] ** 2).sum() / (s**2).sum()
    assert best * 0.9 <= report.energy_kept <= best + 1e-6


def test_sign_conflict_share_reads_right() -> None:
    p1 = random_parent(8, 4, 4.0, SHAPES)
    same = merge_adapters([p1, p1], "cat").report
    assert same.sign_conflict_mean == 0.0
    other = merge_adapters([p1, random_parent(9, 4, 4.0, SHAPES)], "cat").report
    assert 0.35 < other.sign_conflict_mean < 0.65  # independent deltas disagree half the time


def test_progress_cancel_and_refusals() -> None:
    p1, p2 = random_parent(1, 4, 4.0, SHAPES), random_parent(2, 4, 4.0, SHAPES)
    seen: list[tuple[int, int]] = []
    merge_adapters([p1, p2], "linear", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        merge_adapters([p1, p2], "ties", cancel=token)
    with pytest.raises(AdapterError, match="at least two"):
        merge_adapters([p1], "cat")
    with pytest.raises(AdapterError, match="unknown merge method"):
        merge_adapters([p1, p2], "average")
    other = random_parent(3, 4, 4.0, {"blk.0.attn_q.weight": (40, 31)})
    with pytest.raises(AdapterError, match="different models"):
        merge_adapters([p1, other], "cat")
    gemma = random_parent(3, 4, 4.0, SHAPES)
    gemma.architecture = "gemma3"
    with pytest.raises(AdapterError, match="gemma3"):
        merge_adapters([p1, gemma], "cat")
    for method, options in [
        ("ties", TiesOptions(density=0.0)),
        ("dare", DareOptions(drop=1.0)),
        ("dare", DareOptions(variant="median")),
        ("linear", make_options("linear", weights=[1.0])),
        ("linear", make_options("linear", rank=0)),
    ]:
        with pytest.raises(AdapterError):
            merge_adapters([p1, p2], method, options)
    with pytest.raises(AdapterError, match="does not take density"):
        make_options("linear", density=0.5)


@pytest.mark.parametrize("method", ["ties", "dare"])
def test_merging_tensors_in_parallel_gives_the_same_adapter(method: str) -> None:
    shapes = {f"blk.{i}.ffn_up.weight": (60, 40) for i in range(6)}
    p1, p2 = random_parent(1, 4, 4.0, shapes), random_parent(2, 4, 4.0, shapes)
    options = make_options(method, rank=4)
    serial = merge_adapters([p1, p2], method, options).adapter
    parallel = merge_adapters([p1, p2], method, options, threads=3).adapter
    for name in shapes:
        assert np.array_equal(serial.tensors[name][0], parallel.tensors[name][0])
        assert np.array_equal(serial.tensors[name][1], parallel.tensors[name][1])
