"""Memory search speed at 10k, 100k and 1M memories, end to end, and how close the approximate
dense index is to exact search. Prints one JSON object.

- ingest_per_s: a real `memory import` of dialog records (embedding, SQLite, FTS, index).
- p50/p95_ms_<n>: `MemoryService.search` end to end (query embedding, dense index, FTS5,
  fusion, rows from SQLite) on a real database of n distinct synthetic memories, for unique
  questions, with the query-vector cache emptied before each one (so every question is
  embedded). `*_cpu_ms`: CPU time of the searching thread (wall time on a shared machine also
  counts waiting for a core).
- dense_cpu_ms_<n> / exact_cpu_ms_<n>: median CPU time of the dense index's own search and of
  an exact scan of every vector, in the same run (their ratio holds on a busy machine);
  embed_cpu_ms: median and p95 CPU time of embedding one question.
- load_avg: the machine's 1-minute load average before and after (figures taken under load say
  so).
- recall_vs_exact_<n>: mean share of exact search's top 10 that the index's own top 10 holds.
- nearest_cos_<n>: median and p99 cosine of a vector to its nearest other one (near-copies would
  show as values near 1), beside the same for real embeddings of distinct texts (`seeds`).
Texts and vectors come from `memory_corpus.py` (Zipf word frequencies; vectors spread around
real embeddings): embedding 1M texts on two cores would take hours.
Usage: .venv/bin/python tests/benchmarks/memory_search.py [--sizes 10k,100k,1m] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-bench-")

import numpy as np
from memory_corpus import Corpus, Vectors, nearest_cosines
from memory_dialogs import generate

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
SEEDS = 4000


def timed(fn, queries):
    wall, cpu = [], []
    for q in queries:
        w, c = time.perf_counter(), time.thread_time()
        fn(q)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)

    def pct(xs: list[float], p: int) -> float:
        return round(float(np.percentile(xs, p)) * 1000, 2)

    return {
        "p50": pct(wall, 50),
        "p95": pct(wall, 95),
        "p50_cpu": pct(cpu, 50),
        "p95_cpu": pct(cpu, 95),
    }


def overlap(index, qvecs) -> float:
    """Mean share of the exact top 10 that the index's own search returns."""
    shares = [
        len(set(index.search(v, 10)[0].tolist()) & set(index.exact_search(v, 10)[0].tolist())) / 10
        for v in qvecs
    ]
    return round(float(np.mean(shares)), 4)


def cpu_ms(fn, items) -> dict[str, float]:
    times = []
    for item in items:
        c = time.thread_time()
        fn(item)
        times.append(time.thread_time() - c)
    return {
        "p50": round(float(np.percentile(times, 50)) * 1000, 2),
        "p95": round(float(np.percentile(times, 95)) * 1000, 2),
    }


def fill_store(path: Path, texts: list[str], vecs: np.ndarray) -> float:
    """Rows written straight into the memories table (triggers keep FTS in step); seconds."""
    from app.store import Store

    started = time.perf_counter()
    Store(path).close()  # creates the schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for start in range(0, len(texts), 50_000):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO memories (text, kind, source_type, embedding) "
            "VALUES (?, 'note', 'import', ?)",
            (
                (texts[i], vecs[i].astype("<f4").tobytes())
                for i in range(start, min(start + 50_000, len(texts)))
            ),
        )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10k,100k,1m")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from app import paths
    from app.memory.embedder import Embedder
    from app.memory.importer import ImportSummary, records_to_memories
    from app.memory.service import MemoryService
    from app.store import Store

    started = time.perf_counter()
    load_before = round(os.getloadavg()[0], 2)
    embedder = Embedder(threads=1)
    embedder.embed(["warm up"])
    home = Path(os.environ["HEARTH_HOME"])
    out: dict[str, object] = {}

    # Ingest: a real import of dialog turns.
    turns = [t for seed in range(4) for t in generate(seed).turns][:600]
    store = Store(home / "ingest.db")
    service = MemoryService(store, None, embedder, use_model=False)
    items = list(records_to_memories(list(enumerate(turns)), "bench", ImportSummary()))
    t0 = time.perf_counter()
    service.add_many(items)
    out["ingest_per_s"] = round(len(items) / (time.perf_counter() - t0), 1)
    service.close()
    store.close()

    corpus = Corpus(seed=0)
    seeds = embedder.embed(corpus.texts(SEEDS, seed=99))
    out["nearest_cos_seeds"] = nearest_cosines(seeds)
    vectors = Vectors(seeds)
    queries = corpus.questions(args.queries, seed=7)
    assert len(set(queries)) == len(queries)
    qvecs = embedder.embed(queries)
    out["embed_cpu_ms"] = cpu_ms(lambda q: embedder.embed([q]), queries)
    for label in args.sizes.split(","):
        n = SIZES[label]
        path = home / f"bench-{label}.db"
        vecs = vectors.sample(n, seed=n)
        out[f"nearest_cos_{label}"] = nearest_cosines(vecs)
        out[f"fill_s_{label}"] = round(fill_store(path, corpus.texts(n, seed=n), vecs), 1)
        del vecs
        st = Store(path)
        svc = MemoryService(st, None, embedder, use_model=False)
        t0 = time.perf_counter()
        svc.search("warm up the index", k=10)
        out[f"index_build_s_{label}"] = round(time.perf_counter() - t0, 1)

        def search(q: str, s: MemoryService = svc) -> None:
            s._recent.clear()  # every question embedded: no query-vector cache hits
            s.search(q, k=10)

        got = timed(search, queries)
        for key, value in got.items():
            out[f"{key}_ms_{label}"] = value
        index = svc.dense.index()
        out[f"recall_vs_exact_{label}"] = overlap(index, qvecs)
        out[f"dense_cpu_ms_{label}"] = cpu_ms(lambda v, i=index: i.search(v, 50), qvecs)["p50"]
        out[f"exact_cpu_ms_{label}"] = cpu_ms(lambda v, i=index: i.exact_search(v, 50), qvecs)[
            "p50"
        ]
        svc.close()
        st.close()
        for leftover in home.glob(f"bench-{label}.db*"):
            leftover.unlink()
        shutil.rmtree(paths.index_dir(), ignore_errors=True)  # the next size builds its own
    out["queries"] = len(queries)
    out["load_avg"] = {"before": load_before, "after": round(os.getloadavg()[0], 2)}
    out["embed_dtype"] = getattr(embedder._model, "dtype", "?")
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
