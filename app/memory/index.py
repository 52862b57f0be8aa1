"""The dense vector index: derived from SQLite, rebuilt when missing or stale.

Small collections are scanned exactly. From `IVF_MIN` vectors on, an inverted-file index
(spherical k-means, vectors stored grouped by cluster) scans only the clusters nearest the query;
the float32 vectors in those clusters give exact scores, so there is no re-rank error, only
clusters not visited. New vectors land in a small tail scanned exactly until the next rebuild.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

IVF_MIN = 20_000
TAIL_REBUILD_FRACTION = 0.1


@dataclass(frozen=True)
class IndexOptions:
    # Share of clusters visited per query. On vectors as spread as real ones (not near-copies)
    # 0.03 -> 0.1 took recall against exact search from 0.68 to 0.75 at 100k (1.0 -> 1.4 ms)
    # and from 0.85 to 0.95 at 1M (5.9 -> 15 ms of CPU per query).
    nprobe_fraction: float = 0.1
    # At least this many: at 100k (256 clusters) 16 -> 64 took that recall 0.75 -> 0.93 for
    # 1.4 -> 3.5 ms.
    min_nprobe: int = 64
    kmeans_iters: int = 8
    sample_per_list: int = 32
    seed: int = 0


def _dot(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Matrix-vector product on the calling thread. BLAS would start its own threads, and on a
    busy machine their spin-waiting made a 30k-vector scan 15 times slower (measured)."""
    return np.einsum("ij,j->i", matrix, q)


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
        self._centroids: np.ndarray | None = None
        self._offsets = np.zeros(1, dtype=np.int64)
        self._tail_ids: list[int] = []
        self._tail_vecs: list[np.ndarray] = []
        self._pos: dict[int, int] = {}

    # building -------------------------------------------------------------------------------
    def build(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Replace the contents: cluster when large, keep the exact scan when small."""
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
        self._install(ids, vecs, centroids, offsets)

    def _install(
        self, ids: np.ndarray, vecs: np.ndarray, centroids: np.ndarray | None, offsets: np.ndarray
    ) -> None:
        with self._lock:
            self._ids, self._vecs, self._centroids, self._offsets = ids, vecs, centroids, offsets
            self._alive = np.ones(len(ids), dtype=bool)
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
            if self._centroids is None or len(self._tail_ids) > max(
                1000, TAIL_REBUILD_FRACTION * len(self._ids)
            ):
                self.compact()

    def remove(self, ids: list[int]) -> None:
        with self._lock:
            for i in ids:
                pos = self._pos.pop(int(i), None)
                if pos is not None:
                    self._alive[pos] = False
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

    # searching ------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        with self._lock:
            if self._centroids is None:
                scores = _dot(self._vecs, q) if len(self._ids) else np.zeros(0, np.float32)
                return self._finish(self._ids, scores, self._alive, q, k)
            nlist = len(self._centroids)
            nprobe = min(
                nlist, max(self.options.min_nprobe, int(nlist * self.options.nprobe_fraction))
            )
            near = np.argpartition(-_dot(self._centroids, q), nprobe - 1)[:nprobe]
            parts, alive, idparts = [], [], []
            for c in near.tolist():
                a, b = int(self._offsets[c]), int(self._offsets[c + 1])
                if b > a:
                    parts.append(_dot(self._vecs[a:b], q))
                    alive.append(self._alive[a:b])
                    idparts.append(self._ids[a:b])
            if not parts:
                return self._finish(self._ids[:0], np.zeros(0, np.float32), self._alive[:0], q, k)
            return self._finish(
                np.concatenate(idparts), np.concatenate(parts), np.concatenate(alive), q, k
            )

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
