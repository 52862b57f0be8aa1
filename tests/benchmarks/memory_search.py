"""Memory search speed at 10k, 100k and 1M memories, and how close the approximate index is
to exact search. Prints one JSON object.

- ingest_per_s: a real `memory import` of dialog records (embedding, SQLite, FTS, index).
- p95_ms_10k / p95_ms_100k: `MemoryService.search` end to end (query embedding, dense index,
  FTS5, fusion, rows from SQLite) on a real database of synthetic memories.
- p95_ms_1m: query embedding + the dense index over 1M vectors (the SQLite stages are measured
  at 100k: filling a 1M-row database would take most of the time budget).
- recall_vs_exact_1m: mean overlap of the index's top 10 with exact search's top 10.
Synthetic vectors are mixtures of real sentence embeddings plus noise (embedding 1M texts on
two cores would take hours); every query is a real question embedded at query time.
`*_cpu_ms` figures are CPU time of the searching thread: on a shared machine wall time also
counts waiting for a core.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-bench-")

import numpy as np
from memory_dialogs import NAMES, SLOTS, TOPICS, generate

QUERIES = 100
DIM = 384


def questions(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        _turns, qs = rng.choice(TOPICS)
        fill = {k: rng.choice(v) for k, v in SLOTS.items()}
        out.append(rng.choice(qs)[0].format(S=rng.choice(NAMES), **fill))
    return out


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        i, j = rng.integers(0, len(base), m), rng.integers(0, len(base), m)
        v = base[i] + 0.5 * base[j] + 0.02 * rng.standard_normal((m, DIM)).astype(np.float32)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def timed(fn, queries):
    wall, cpu, results = [], [], []
    for q in queries:
        w, c = time.perf_counter(), time.thread_time()
        results.append(fn(q))
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    p95 = lambda xs: round(float(np.percentile(xs, 95)) * 1000, 2)  # noqa: E731
    return p95(wall), p95(cpu), results


def overlap(index, qvecs):
    """Mean share of the exact top 10 that the index's own search returns."""
    shares = [
        len(set(index.search(v, 10)[0].tolist()) & set(index.exact_search(v, 10)[0].tolist())) / 10
        for v in qvecs
    ]
    return round(float(np.mean(shares)), 4)


def fill_store(path: Path, texts: list[str], vecs: np.ndarray) -> None:
    """Synthetic rows written straight into the memories table (triggers keep FTS in step)."""
    from app.store import Store

    Store(path).close()  # creates the schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO memories (text, kind, source_type, embedding) VALUES (?, 'note', 'import', ?)",
        (
            (texts[i % len(texts)] + f" (#{i})", vecs[i].astype("<f4").tobytes())
            for i in range(len(vecs))
        ),
    )
    conn.execute("COMMIT")
    conn.close()


def main() -> int:
    import torch

    torch.set_num_threads(1)
    from app.memory.embedder import Embedder
    from app.memory.importer import ImportSummary, records_to_memories
    from app.memory.index import DenseIndex
    from app.memory.service import MemoryService
    from app.store import Store

    started = time.perf_counter()
    embedder = Embedder(threads=1)
    embedder.embed(["warm up"])
    home = Path(os.environ["HEARTH_HOME"])
    out: dict[str, object] = {}

    # Ingest: a real import of dialog turns; their vectors seed the synthetic collections.
    turns = [t for seed in range(4) for t in generate(seed).turns][:600]
    store = Store(home / "ingest.db")
    service = MemoryService(store, None, embedder, use_model=False)
    items = records_to_memories(list(enumerate(turns)), "bench", ImportSummary())
    t0 = time.perf_counter()
    service.add_many(items)
    out["ingest_per_s"] = round(len(items) / (time.perf_counter() - t0), 1)
    _base_ids, base = service.dense.index().contents()
    texts = [r["text"] for r in store.query("SELECT text FROM memories ORDER BY id")]
    service.close()
    store.close()

    queries = questions(QUERIES)
    for label, n in (("10k", 10_000), ("100k", 100_000)):
        path = home / f"bench-{label}.db"
        fill_store(path, texts, synthetic(base, n, seed=n))
        st = Store(path)
        svc = MemoryService(st, None, embedder, use_model=False)
        svc.search("warm up the index", k=10)
        wall, cpu, _ = timed(lambda q, s=svc: s.search(q, k=10), queries)
        out[f"p95_ms_{label}"], out[f"p95_cpu_ms_{label}"] = wall, cpu
        index = svc.dense.index()
        out[f"recall_vs_exact_{label}"] = overlap(index, embedder.embed(queries))
        svc.close()
        st.close()
        path.unlink()

    vecs = synthetic(base, 1_000_000, seed=1)
    index = DenseIndex(DIM)
    t0 = time.perf_counter()
    index.build(np.arange(len(vecs), dtype=np.int64), vecs)
    out["index_build_s_1m"] = round(time.perf_counter() - t0, 1)
    del vecs

    def dense_1m(q: str) -> np.ndarray:
        return index.search(embedder.embed([q])[0], 10)[0]

    wall, cpu, _found = timed(dense_1m, queries)
    out["p95_ms_1m"], out["p95_cpu_ms_1m"] = wall, cpu
    out["recall_vs_exact_1m"] = overlap(index, embedder.embed(queries))
    out["embed_dtype"] = getattr(embedder._model, "dtype", "?")
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
