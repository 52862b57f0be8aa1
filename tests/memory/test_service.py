"""MemoryService on the real embedder and a real SQLite file: add, merge, replace, forget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.memory.records import NewMemory


def _texts(hits: list[Any]) -> list[str]:
    return [h.text for h in hits]


def test_search_finds_the_relevant_memory_first(memory: Any) -> None:
    memory.add("My sister Ana lives in Porto")
    memory.add("I'm allergic to peanuts")
    memory.add("My favourite band is Radiohead")
    hits = memory.search("which city does my sister live in?", k=3)
    assert hits[0].text == "My sister Ana lives in Porto"
    hits = memory.search("food allergy", k=3)
    assert hits[0].text == "I'm allergic to peanuts"


def test_near_duplicates_merge_into_one_memory(memory: Any) -> None:
    first = memory.add("My sister Ana lives in Porto")
    second = memory.add("my sister Ana lives in Porto.")
    assert second.action == "merged" and second.memory_id == first.memory_id
    assert memory.count() == 1
    assert memory.history(first.memory_id)[0]["reason"] == "merged"
    # A different fact is not a duplicate.
    assert memory.add("My brother Rui lives in Faro").action == "added"
    assert memory.count() == 2


def test_contradiction_replaces_and_keeps_history(memory: Any) -> None:
    old = memory.add("My dog is called Rex", subject="dog name")
    new = memory.add("My dog is called Max", subject="dog name")
    assert new.action == "replaced" and new.replaced_id == old.memory_id
    assert [m.text for m in memory.memories()] == ["My dog is called Max"]
    assert "My dog is called Rex" in [m.text for m in memory.memories(include_replaced=True)]
    assert memory.history(new.memory_id)[0]["text"] == "My dog is called Rex"
    assert "My dog is called Rex" not in _texts(memory.search("what is my dog called", k=5))
    memory.undo(new)
    assert [m.text for m in memory.memories()] == ["My dog is called Rex"]
    assert _texts(memory.search("what is my dog called", k=1)) == ["My dog is called Rex"]


def _files_contain(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_forget_removes_from_recall_and_from_disk(memory: Any, hearth_home: Path) -> None:
    memory.add("I like hiking in the mountains")
    secret = memory.add("My locker code is zebra-4471")
    memory.flush_index()
    assert _texts(memory.search("locker code", k=1)) == ["My locker code is zebra-4471"]
    assert _files_contain(hearth_home, b"zebra-4471")
    assert [r.text for r in memory.recall("what is my locker code?")] == [
        "My locker code is zebra-4471"
    ]
    assert memory.forget(secret.memory_id)
    assert memory.get(secret.memory_id) is None
    assert "My locker code is zebra-4471" not in _texts(memory.search("locker code", k=5))
    assert memory.recall("what is my locker code?") == []
    assert _files_contain(hearth_home, b"zebra") == []
    assert memory.forget(secret.memory_id) is False


def test_forget_all_leaves_nothing(memory: Any, hearth_home: Path) -> None:
    memory.add_many([NewMemory(f"note number {i} about quokkas", kind="note") for i in range(5)])
    assert memory.count() == 5
    assert memory.forget_all() == 5
    assert memory.count() == 0 and memory.search("quokkas") == []
    assert _files_contain(hearth_home, b"quokkas") == []


def test_edit_and_pin(memory: Any) -> None:
    change = memory.add("I work at a bakery")
    memory.update(change.memory_id, text="I work at a bookshop", kind="fact")
    memory.pin(change.memory_id)
    mem = memory.get(change.memory_id)
    assert mem.text == "I work at a bookshop" and mem.pinned
    assert memory.history(change.memory_id)[0]["text"] == "I work at a bakery"
    assert _texts(memory.search("where do I work", k=1)) == ["I work at a bookshop"]
    assert memory.memories()[0].id == change.memory_id  # pinned first


def test_imported_turns_carry_their_source_ids_and_neighbours(memory: Any) -> None:
    turns = [
        ("D1:1", "Caroline: Guess what, I adopted a puppy from the shelter!"),
        ("D1:2", "Melanie: No way! What did you name it?"),
        ("D1:3", "Caroline: We went with Biscuit. She loves chasing leaves."),
        ("D1:4", "Melanie: The weather has been crazy this week."),
        ("D1:5", "Caroline: I started a new job as a nurse."),
    ]
    items = [
        NewMemory(text, kind="note", source_type="import", source_ids=[sid], batch="b", seq=i)
        for i, (sid, text) in enumerate(turns)
    ]
    memory.add_many(items)
    hits = memory.search("What is the name of Caroline's dog?", k=2)
    assert "D1:3" in {s for h in hits for s in h.source_ids}
    assert "D1:5" not in hits[0].source_ids
    assert hits[0].to_json().keys() == {"id", "source_ids", "text", "score"}
    # Each hit is a passage: its text holds every turn its source ids name.
    for hit in hits:
        for sid in hit.source_ids:
            assert dict(turns)[sid] in hit.text


def test_a_streamed_import_keeps_turn_context_across_its_batches(memory: Any) -> None:
    """An import is read as a stream, a batch at a time: the answer that opens a batch is
    still embedded with the question that closed the one before."""
    from app.memory.writes import _previous_turns

    question = NewMemory("Melanie: What did you name it?", batch="b", seq=255)
    answer = NewMemory("Caroline: We went with Biscuit.", batch="b", seq=256)
    other = NewMemory("Melanie: Nice.", batch="c", seq=257)
    _, carried = _previous_turns([question], {})
    previous, _ = _previous_turns([answer, other], carried)
    assert previous == [question.text, None]


def test_a_cancelled_import_takes_back_what_it_added(memory: Any) -> None:
    from app.cancel import Cancelled, CancelToken
    from app.memory import importer

    memory.add("My sister Ana lives in Lisbon.")
    cancel = CancelToken()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        cancel.cancel()  # after the first batch is committed

    items = (NewMemory(f"note {i} about otters", kind="note") for i in range(600))
    with pytest.raises(Cancelled):
        importer.run_import(memory, items, importer.ImportSummary(), progress, cancel, total=600)
    assert seen == [256]
    assert memory.count() == 1 and memory.search("otters", k=3)[0].text.startswith("My sister")


def test_search_and_add_from_several_threads(memory: Any) -> None:
    import threading

    facts = [
        "I grow tomatoes on the balcony",
        "My bike is a red Peugeot",
        "I speak some Japanese",
        "My landlord is called Mr. Ortiz",
        "I am saving for a trip to Chile",
        "My favourite tea is genmaicha",
    ]
    errors: list[BaseException] = []

    def guard(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        return run

    def search() -> None:
        for _ in range(6):
            memory.search("what do I grow at home", k=3)

    def add() -> None:
        for fact in facts:
            memory.add(fact)

    threads = [threading.Thread(target=guard(f)) for f in (search, add, search)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert memory.count() == len(facts)
    assert memory.search("what do I grow at home", k=1)[0].text == facts[0]


def test_empty_memory_searches_and_recalls_nothing(memory: Any) -> None:
    assert memory.search("anything at all") == []
    assert memory.recall("anything at all") == []
    assert memory.prompt_block([]) == ""
