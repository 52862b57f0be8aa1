"""The Memories page stays responsive with many memories: a notes import does its file, embedding
and database work on a worker (never the GUI thread), and the table makes cells only for the
rows it draws (a refresh of a filled table used to rebuild every cell on the GUI thread)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

TIMEOUT_MS = 120_000


def _page(qtbot: Any, core: Any) -> Any:
    from app.ui.memory_manager import MemoryManager

    page = MemoryManager(core)
    qtbot.addWidget(page)
    page.resize(760, 560)
    page.show()
    return page


def test_notes_import_does_no_file_embedding_or_database_work_on_the_gui_thread(
    qtbot: Any, core: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(40):
        (notes / f"note{i:02}.txt").write_text(f"Note {i}: the blue kettle is on shelf {i}.")
    page = _page(qtbot, core)
    qtbot.waitUntil(lambda: page.count_label.text() == "0 memories", timeout=TIMEOUT_MS)

    calls: list[tuple[str, threading.Thread]] = []
    memory, store = core.memory, core.store

    def watch(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def watched(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, threading.current_thread()))
            return real(*args, **kwargs)

        setattr(owner, name, watched)

    watch(memory.embedder, "embed")
    for name in ("transaction", "query", "query_one", "scalar", "execute"):
        watch(store, name)
    from app.memory import importer

    real_read = importer.notes_to_memories

    def reading(*args: Any) -> Any:
        calls.append(("read", threading.current_thread()))
        return real_read(*args)

    importer.notes_to_memories = reading  # type: ignore[assignment]
    progress: list[tuple[int, int]] = []
    page._progress.changed.connect(lambda done, total: progress.append((done, total)))
    try:
        page.import_notes([notes])
        qtbot.waitUntil(lambda: page.count_label.text() == "40 memories", timeout=TIMEOUT_MS)
    finally:
        importer.notes_to_memories = real_read  # type: ignore[assignment]
    names = {name for name, _thread in calls}
    assert {"read", "embed", "transaction", "query"} <= names
    on_gui = [name for name, thread in calls if thread is threading.main_thread()]
    assert on_gui == [], f"on the GUI thread: {sorted(set(on_gui))}"
    # progress reached the GUI thread by signal, ending at the total
    assert progress and progress[-1] == (40, 40)
    assert page.status.text() == "Imported 40 notes from 40 files"


def test_the_table_makes_cells_only_for_the_rows_it_draws(qtbot: Any, core: Any) -> None:
    rows = [(f"Note {i}: the blue kettle is on shelf {i}.",) for i in range(2000)]
    with core.store.transaction() as conn:
        conn.executemany(
            "INSERT INTO memories(text, kind, source_type) VALUES(?, 'note', 'file')", rows
        )
    page = _page(qtbot, core)
    qtbot.waitUntil(lambda: page.count_label.text() == "2000 memories", timeout=TIMEOUT_MS)
    qtbot.wait(50)  # a paint
    model = page.table.memories
    drawn = len(model._cells)
    assert 0 < drawn < 200, drawn  # the rows on screen, not all 2,000
    assert page.table.item(0, 0).text().startswith("Note 1999")  # newest first
    assert page.table.item(0, 1).text() == "note"

    # A refresh of the filled table (an edit, a pin) starts again from what is drawn.
    newest = page.rows[0]
    page.table.selectRow(0)
    assert page.current is not None and page.current.id == newest.id
    refreshed: list[bool] = []
    page.refreshed.connect(lambda: refreshed.append(True))
    page.toggle_pin()
    qtbot.waitUntil(lambda: bool(refreshed), timeout=TIMEOUT_MS)
    qtbot.wait(50)
    assert len(model._cells) < 200
    assert page.table.item(0, 2).text() == "📌"
    assert page.current is not None and page.current.id == newest.id  # still selected
