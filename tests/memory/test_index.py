"""The dense index: approximate search against exact, rebuild from SQLite, staleness."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.memory import index as index_mod
from app.memory.index import DenseIndex


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, dim))
    data = centres[rng.integers(0, 64, n)] + 0.3 * rng.standard_normal((n, dim))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_search_agrees_with_exact_search(monkeypatch: Any) -> None:
    monkeypatch.setattr(index_mod, "IVF_MIN", 1000)
    data = _clustered(20_000)
    idx = DenseIndex(32)
    idx.build(np.arange(20_000), data)
    assert idx.clustered
    queries = _clustered(50, seed=1)
    overlap = []
    for q in queries:
        approx, _ = idx.search(q, 10)
        exact, _ = idx.exact_search(q, 10)
        overlap.append(len(set(approx.tolist()) & set(exact.tolist())) / 10)
    assert np.mean(overlap) >= 0.95
    brute = np.argsort(-(data @ queries[0]))[:10]
    assert idx.exact_search(queries[0], 10)[0].tolist() == brute.tolist()


def test_add_and_remove_follow_without_rebuild(monkeypatch: Any) -> None:
    monkeypatch.setattr(index_mod, "IVF_MIN", 1000)
    data = _clustered(5000)
    idx = DenseIndex(32)
    idx.build(np.arange(5000), data)
    idx.add([9999], data[:1])
    ids, _scores = idx.search(data[0], 2)
    assert set(ids.tolist()) == {0, 9999}
    idx.remove([0, 9999])
    assert 0 not in idx.search(data[0], 10)[0].tolist()
    assert len(idx) == 4999


def test_rebuilding_from_sqlite_gives_the_same_results(memory: Any, embedder: Any) -> None:
    from app.memory.service import MemoryService

    for text in [
        "My sister Ana lives in Porto",
        "I'm allergic to peanuts",
        "I play the cello",
        "My favourite film is Alien",
        "I run every Tuesday morning",
        "My car is a blue Fiat",
    ]:
        memory.add(text)
    queries = ["where does my sister live", "what instrument do I play", "my car"]
    before = [[(h.id, round(h.score, 6)) for h in memory.search(q, k=4)] for q in queries]
    memory.rebuild_index()
    after = [[(h.id, round(h.score, 6)) for h in memory.search(q, k=4)] for q in queries]
    assert after == before
    # A fresh service loads the saved index (or rebuilds it): same answers.
    memory.flush_index()
    other = MemoryService(memory.store, None, embedder, use_model=False)
    again = [[(h.id, round(h.score, 6)) for h in other.search(q, k=4)] for q in queries]
    assert again == before
    # A second writer (another process) makes the first one's index stale: it notices.
    other.add("My cat is called Mochi")
    assert memory.search("what is my cat called", k=1)[0].text == "My cat is called Mochi"


def test_a_corrupt_saved_index_is_rebuilt(memory: Any, embedder: Any) -> None:
    from app.memory.service import MemoryService

    memory.add("I collect vintage stamps")
    memory.rebuild_index()
    (memory.dense.folder / "vecs.npy").write_bytes(b"garbage")
    other = MemoryService(memory.store, None, embedder, use_model=False)
    assert other.search("hobby collecting", k=1)[0].text == "I collect vintage stamps"


def _spread(n: int, seed: int) -> np.ndarray:
    """Vectors whose variance falls off along their directions, as sentence embeddings' does."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, 64)) * np.arange(1, 65) ** -0.8
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def test_codes_choose_candidates_and_exact_scores_rank_them(
    monkeypatch: Any, tmp_path: Any
) -> None:
    from app.memory import persist
    from app.memory.index import IndexOptions

    monkeypatch.setattr(index_mod, "CODES_MIN", 1000)
    monkeypatch.setattr(index_mod, "IVF_MIN", 10**9)
    data = _spread(6000, seed=0)
    idx = DenseIndex(64, IndexOptions(code_dim=16, rerank=100))
    idx.build(np.arange(6000), data)
    assert idx.coded and not idx.clustered
    queries = _spread(30, seed=1)
    overlap = []
    for q in queries:
        ids, scores = idx.search(q, 10)
        # Scores are exact cosines, whatever the codes lost.
        assert np.allclose(scores, data[ids] @ q, atol=1e-5)
        overlap.append(len(set(ids.tolist()) & set(idx.exact_search(q, 10)[0].tolist())) / 10)
    assert np.mean(overlap) >= 0.95
    best = int(idx.search(queries[0], 1)[0][0])
    idx.remove([best])
    assert best not in idx.search(queries[0], 10)[0].tolist()
    # The codes travel with the saved index.
    persist.save(idx, tmp_path, {"generation": 1})
    loaded = persist.load(tmp_path, {"generation": 1}, idx.options)
    assert loaded is not None and loaded.coded
    for q in queries[:5]:
        assert loaded.search(q, 10)[0].tolist() == idx.search(q, 10)[0].tolist()


def test_another_database_never_loads_this_ones_saved_index(
    memory: Any, embedder: Any, hearth_home: Any
) -> None:
    from app.memory.records import NewMemory
    from app.memory.service import MemoryService
    from app.store import Store

    other_store = Store(hearth_home / "other.db")
    other = MemoryService(other_store, None, embedder, use_model=False)
    try:
        # Imported (no index needed to write them), as in a benchmark with two stores.
        texts = ["My brother lives in Oslo", "My cat is called Mochi"]
        other.add_many([NewMemory(text=t, kind="note", source_type="import") for t in texts])
        texts = ["I collect vintage stamps", "I play the cello"]
        memory.add_many([NewMemory(text=t, kind="note", source_type="import") for t in texts])
        memory.rebuild_index()  # saved, at the generation the other database is at too
        hits = other.search("where does my brother live", k=2)
        # The dense scores are the cosines of this database's own vectors (the same row ids
        # in the first database hold other texts and other vectors).
        question = embedder.embed_one("where does my brother live")
        truth = other.cosines(question, [h.id for h in hits])
        assert all(abs(h.dense - truth[h.id]) < 1e-3 for h in hits)
        assert hits[0].text == "My brother lives in Oslo"
    finally:
        other.close()
        other_store.close()


def test_top_positions_are_the_highest_scores() -> None:
    rng = np.random.default_rng(3)
    for n, r in [(300_000, 400), (5000, 400), (401, 400), (50, 400)]:
        scores = rng.standard_normal(n).astype(np.float32)
        scores[::7] = -np.inf  # removed rows
        got = index_mod.top_positions(scores, r)
        assert len(got) == min(n, r) and len(set(got.tolist())) == len(got)
        assert np.sort(scores[got])[::-1].tolist() == np.sort(scores)[::-1][: len(got)].tolist()
    # A sample whose own points hold the best scores sets the bar so high that fewer than r
    # pass: the r best still come back, through the full partition.
    scores = np.zeros(100_000, dtype=np.float32)
    step = 100_000 // (32 * 400)
    scores[::step][:200] = 2.0
    scores[1::step][:300] = 1.0
    got = index_mod.top_positions(scores, 400)
    assert sorted(scores[got].tolist()) == [1.0] * 200 + [2.0] * 200
