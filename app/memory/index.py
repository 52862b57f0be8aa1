"""The dense vector index: derived from SQLite, rebuilt when missing or stale.

Small collections are scanned exactly. From `CODES_MIN` vectors on, the scan reads short codes
(each vector projected on the collection's `code_dim` principal directions, a third of the bytes)
and the best `rerank` candidates are then scored exactly on their float32 vectors. From `IVF_MIN`
on, an inverted-file index (spherical k-means, vectors stored grouped by cluster) limits that scan
to the clusters nearest the query. New vectors land in a small tail scanned exactly until the next
rebuild.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

CODES_MIN = 20_000
IVF_MIN = 200_000
TAIL_REBUILD_FRACTION = 0.1


@dataclass(frozen=True)
class IndexOptions:
    # Share of clusters visited per query. On vectors as spread as real ones (not near-copies)
    # at 1M (1024 clusters) 0.1 -> 0.25 -> 0.3 -> 0.4 of the clusters hold 0.947 -> 0.981 ->
    # 0.985 -> 0.997 of exact search's top 10 (measured).
    nprobe_fraction: float = 0.33
    min_nprobe: int = 64
    # Principal directions kept in the codes: at 100k, 128 of 384 dimensions with 200
    # candidates re-ranked keep 0.992 of the exact top 10; 96 with 400 keep 0.982 (measured).
    code_dim: int = 128
    rerank: int = 400
    kmeans_iters: int = 8
    sample_per_list: int = 32
    seed: int = 0


def _dot(matrix: np.ndarray, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Matrix-vector product on the calling thread. BLAS would start its own threads, and on a
    busy machine their spin-waiting made a 30k-vector scan 15 times slower (measured)."""
    return np.einsum("ij,j->i", matrix, q, out=out)


def top_positions(scores: np.ndarray, r: int) -> np.ndarray:
    """Positions of the `r` highest scores, unordered. A strided sample sets a bar that about
    2r scores pass, and only those are partitioned: at 330k scores 0.3 ms instead of 3.5 ms for
    partitioning them all (measured). When fewer than r pass, all are partitioned."""
    n = len(scores)
    if n <= r:
        return np.arange(n)
    step = max(1, n // (32 * r))
    sample = scores[::step]
    above = min(len(sample) - 1, (2 * r) // step)
    bar = np.partition(sample, len(sample) - 1 - above)[len(sample) - 1 - above]
    passed = np.flatnonzero(scores >= bar)
    if len(passed) < r:
        return np.argpartition(-scores, r - 1)[:r]
    return passed[np.argpartition(-scores[passed], r - 1)[:r]]


def kmeans(data: np.ndarray, nlist: int, opts: IndexOptions) -> np.ndarray:
    """Spherical k-means on a sample; returns unit-norm centroids (nlist, dim)."""
    rng = np.random.default_rng(opts.seed)
    n = data.shape[0]
    sample_n = min(n, nlist * opts.sample_per_list)
    sample = data[np.sort(rng.choice(n, sample_n, replace=False))].astype(np.float32)
    centroids = sample[rng.choice(sample_n, nlist, replace=False)].copy()
    for _ in range(opts.kmeans_iters):
        assign = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        # An empty cluster restarts on a random point, so every list stays useful.
        sums[empty] = sample[rng.choice(sample_n, int(empty.sum()), replace=False)]
        norms[empty] = 1.0
        centroids = (sums / norms).astype(np.float32)
    return centroids


def assign_all(data: np.ndarray, centroids: np.ndarray, chunk: int = 32768) -> np.ndarray:
    out = np.empty(data.shape[0], dtype=np.int32)
    for start in range(0, data.shape[0], chunk):
        block = np.asarray(data[start : start + chunk], dtype=np.float32)
        out[start : start + chunk] = np.argmax(block @ centroids.T, axis=1)
    return out


def principal_basis(
    data: np.ndarray, dim: int, opts: IndexOptions, sample: int = 50_000
) -> np.ndarray:
    """(d, dim) projection on the `dim` directions along which a sample of `data` varies most.
    Not centred: the mean's share of a score is the same for every vector, so ranks hold."""
    rng = np.random.default_rng(opts.seed)
    n = data.shape[0]
    rows = data[np.sort(rng.choice(n, min(n, sample), replace=False))].astype(np.float64)
    rows -= rows.mean(axis=0)
    _values, vectors = np.linalg.eigh(rows.T @ rows)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dim], dtype=np.float32)


def project(data: np.ndarray, basis: np.ndarray, chunk: int = 65536) -> np.ndarray:
    out = np.empty((data.shape[0], basis.shape[1]), dtype=np.float32)
    for start in range(0, data.shape[0], chunk):
        out[start : start + chunk] = np.asarray(data[start : start + chunk]) @ basis
    return out


class DenseIndex:
    """Ids and unit vectors; `search` returns the best (ids, cosine scores)."""

    def __init__(self, dim: int, options: IndexOptions | None = None) -> None:
        self.dim = dim
        self.options = options or IndexOptions()
        self.generation = -1
        self._lock = threading.RLock()
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._removed = 0
        self._centroids: np.ndarray | None = None
        self._offsets = np.zeros(1, dtype=np.int64)
        self._basis: np.ndarray | None = None
        self._codes: np.ndarray | None = None
        self._tail_ids: list[int] = []
        self._tail_vecs: list[np.ndarray] = []
        self._pos: dict[int, int] = {}

    # building -------------------------------------------------------------------------------
    def build(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Replace the contents: codes and clusters when large, the exact scan when small."""
        ids = np.asarray(ids, dtype=np.int64)
        vecs = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        centroids: np.ndarray | None = None
        offsets = np.zeros(1, dtype=np.int64)
        if len(ids) >= IVF_MIN:
            nlist = int(2 ** round(np.log2(np.sqrt(len(ids)))))
            centroids = kmeans(vecs, nlist, self.options)
            assign = assign_all(vecs, centroids)
            order = np.argsort(assign, kind="stable")
            ids, vecs = ids[order], np.ascontiguousarray(vecs[order])
            counts = np.bincount(assign, minlength=nlist)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        basis = codes = None
        if len(ids) >= CODES_MIN:
            basis = principal_basis(vecs, min(self.options.code_dim, self.dim), self.options)
            codes = project(vecs, basis)
        self._install(ids, vecs, centroids, offsets, basis, codes)

    def _install(
        self,
        ids: np.ndarray,
        vecs: np.ndarray,
        centroids: np.ndarray | None,
        offsets: np.ndarray,
        basis: np.ndarray | None = None,
        codes: np.ndarray | None = None,
    ) -> None:
        with self._lock:
            self._ids, self._vecs, self._centroids, self._offsets = ids, vecs, centroids, offsets
            self._basis, self._codes = basis, codes
            self._alive = np.ones(len(ids), dtype=bool)
            self._removed = 0
            self._tail_ids, self._tail_vecs = [], []
            self._pos = {int(i): p for p, i in enumerate(ids.tolist())}

    def add(self, ids: list[int], vecs: np.ndarray) -> None:
        with self._lock:
            for i, v in zip(
                ids, np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim), strict=False
            ):
                self.remove([i])
                self._tail_ids.append(int(i))
                self._tail_vecs.append(v)
            if self._codes is None or len(self._tail_ids) > max(
                1000, TAIL_REBUILD_FRACTION * len(self._ids)
            ):
                self.compact()

    def remove(self, ids: list[int]) -> None:
        with self._lock:
            for i in ids:
                pos = self._pos.pop(int(i), None)
                if pos is not None:
                    self._alive[pos] = False
                    self._removed += 1
                if int(i) in self._tail_ids:
                    at = self._tail_ids.index(int(i))
                    del self._tail_ids[at], self._tail_vecs[at]

    def compact(self) -> None:
        """Fold the tail and the removals in; re-cluster when the size calls for it."""
        with self._lock:
            ids, vecs = self.contents()
            self.build(ids, vecs)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            ids = self._ids[self._alive]
            vecs = self._vecs[self._alive]
            if self._tail_ids:
                ids = np.concatenate([ids, np.asarray(self._tail_ids, dtype=np.int64)])
                vecs = np.concatenate([vecs, np.stack(self._tail_vecs)])
            return ids, np.asarray(vecs, dtype=np.float32)

    def __len__(self) -> int:
        return int(self._alive.sum()) + len(self._tail_ids)

    @property
    def clustered(self) -> bool:
        return self._centroids is not None

    @property
    def coded(self) -> bool:
        return self._codes is not None

    # searching ------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        with self._lock:
            if self._codes is None or self._basis is None:
                scores = _dot(self._vecs, q) if len(self._ids) else np.zeros(0, np.float32)
                return self._finish(self._ids, scores, self._alive, q, k)
            rows = self._candidates(q, self._codes, self._basis, max(self.options.rerank, 4 * k))
            # The candidates scored exactly: the codes only chose them.
            exact = _dot(self._vecs[rows], q)
            return self._finish(self._ids[rows], exact, self._alive[rows], q, k)

    def _runs(self, q: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges to scan: all rows, or the clusters nearest `q` (adjacent ones joined)."""
        if self._centroids is None:
            return [(0, len(self._ids))]
        nlist = len(self._centroids)
        nprobe = min(nlist, max(self.options.min_nprobe, int(nlist * self.options.nprobe_fraction)))
        near = np.sort(np.argpartition(-_dot(self._centroids, q), nprobe - 1)[:nprobe])
        runs: list[tuple[int, int]] = []
        for a, b in zip(
            self._offsets[near].tolist(), self._offsets[near + 1].tolist(), strict=True
        ):
            if runs and runs[-1][1] == a:
                runs[-1] = (runs[-1][0], b)
            elif b > a:
                runs.append((a, b))
        return runs

    def _candidates(
        self, q: np.ndarray, codes: np.ndarray, basis: np.ndarray, r: int
    ) -> np.ndarray:
        """Rows of the best `r` approximate scores (by codes) in the scanned ranges."""
        qc = q @ basis
        runs = self._runs(q)
        if not runs:
            return np.zeros(0, np.int64)
        # One buffer for every run's scores: no per-run arrays to allocate and join.
        scores = np.empty(sum(b - a for a, b in runs), dtype=np.float32)
        at = 0
        for a, b in runs:
            part = scores[at : at + b - a]
            _dot(codes[a:b], qc, out=part)
            if self._removed:
                part[~self._alive[a:b]] = -np.inf
            at += b - a
        picked = top_positions(scores, r)
        starts = np.asarray([a for a, _ in runs], dtype=np.int64)
        lengths = np.asarray([b - a for a, b in runs], dtype=np.int64)
        ends = np.cumsum(lengths)
        which = np.searchsorted(ends, picked, side="right")
        return np.sort(starts[which] + picked - (ends[which] - lengths[which]))

    def exact_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every vector scored: the reference the approximate search is measured against."""
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        with self._lock:
            scores = _dot(self._vecs, q) if len(self._ids) else np.zeros(0, np.float32)
            return self._finish(self._ids, scores, self._alive, q, k)

    def _finish(
        self, ids: np.ndarray, scores: np.ndarray, alive: np.ndarray, q: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.where(alive, scores, -np.inf)
        if self._tail_ids:
            ids = np.concatenate([ids, np.asarray(self._tail_ids, dtype=np.int64)])
            scores = np.concatenate([scores, _dot(np.stack(self._tail_vecs), q)])
        if len(scores) == 0 or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return ids[top], scores[top].astype(np.float32)
