"""What recall hands the prompt: the memories about the question, few and closest first, and
at start-up (embedder still loading) full-text matches without waiting."""

from __future__ import annotations

import threading
from typing import Any

from app.memory.records import SearchHit
from app.memory.service import RECALL_MAX, MemoryService, relevant


def _fill(memory: MemoryService) -> None:
    memory.add("My sister is called Ana")
    memory.add("My dog Biscuit is a beagle")
    memory.add("I work as a nurse at Erasmus Hospital")


def test_recall_uses_full_text_while_the_embedder_loads(
    memory: Any, store: Any, stuck_embedder: Any
) -> None:
    _fill(memory)
    stuck = stuck_embedder
    cold = MemoryService(store, None, stuck, use_model=False)
    got: list[Any] = []
    try:
        worker = threading.Thread(target=lambda: got.append(cold.recall("Which hospital?")))
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "recall waited for the embedder"
        assert [m.text for m in got[0]] == ["I work as a nurse at Erasmus Hospital"]
        assert stuck.asked.wait(60), "recall should start loading the embedder"
        assert cold.recall("something nobody said, zebra") == []
    finally:
        stuck.ready.set()
        cold.close()
    # Once loaded, recall is by meaning again: no word of the question is in the memory.
    assert [m.text for m in memory.recall("what is my pet like?")][:1] == [
        "My dog Biscuit is a beagle"
    ]


def test_recall_keeps_few_memories_closest_first(memory: Any) -> None:
    for text in [
        "My sister is called Ana",
        "My brother is called Tomas",
        "My husband is called Rafael",
        "My daughter is called Mila",
        "My son is called Leo",
        "My best friend is called Priya",
    ]:
        memory.add(text)
    got = [m.text for m in memory.recall("What is my sister's name?")]
    assert got[0] == "My sister is called Ana"
    assert len(got) <= RECALL_MAX


def test_relevant_drops_what_is_far_from_the_best() -> None:
    hits = [SearchHit(id=i, text=str(i), score=1.0) for i in range(5)]
    cos = {0: 0.40, 1: 0.70, 2: 0.62, 3: 0.30, 4: 0.50}
    assert [h.id for h in relevant(hits, cos)] == [1, 2]
    assert relevant(hits, {3: 0.3}) == []


def test_a_named_day_finds_what_was_said_that_day(memory: Any) -> None:
    from app.memory.records import NewMemory
    from app.memory.search import days_named

    assert days_named("What did I say on November 8?") == ["11-08"]
    assert days_named("the 3rd of May 2024, and Mar 14") == ["2024-05-03", "03-14"]
    assert days_named("the market had 5 stalls") == []
    said = [
        ("We booked the cabin by the lake", "2023-11-08T10:00:00"),
        ("The weather has been crazy", "2023-11-09T10:00:00"),
        ("I repainted the kitchen", "2023-10-02T10:00:00"),
    ]
    memory.add_many([NewMemory(text=t, created_at=when) for t, when in said])
    hits = memory.search("What did I tell you on November 8?", k=3)
    assert hits[0].text == "We booked the cabin by the lake"
    assert memory.search("What did I tell you on 2 October 2023?", k=1)[0].text == (
        "I repainted the kitchen"
    )


def test_recall_uses_full_text_while_the_index_loads(
    memory: Any, store: Any, embedder: Any, monkeypatch: Any
) -> None:
    from app.memory import dense

    _fill(memory)
    memory.flush_index()
    cold = MemoryService(store, None, embedder, use_model=False)
    # Fault injection: a collection counted as large, whose index takes as long to load as a
    # large one does. (A small one is waited for: it is in within moments.)
    monkeypatch.setattr(dense, "SMALL_INDEX", 1)
    loaded = threading.Event()
    slow_index = cold.dense.index

    def stuck() -> Any:
        loaded.wait(300)
        return slow_index()

    cold.dense.index = stuck  # type: ignore[method-assign]
    got: list[Any] = []
    try:
        worker = threading.Thread(target=lambda: got.append(cold.recall("Which hospital?")))
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "recall waited for the dense index"
        assert [m.text for m in got[0]] == ["I work as a nurse at Erasmus Hospital"]
    finally:
        loaded.set()
    cold.dense.index()  # in, whatever the machine's load
    # Once the index is in, recall is by meaning again.
    assert [m.text for m in cold.recall("what is my pet like?")][:1] == [
        "My dog Biscuit is a beagle"
    ]
    cold.close()
