"""The memory manager with a real core (real embedder, real database): list, search, filter,
edit, pin, delete, delete all, import notes off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

TIMEOUT_MS = 60_000


@pytest.fixture
def manager(qtbot: Any, core: Any) -> Any:
    from app.ui.memory_manager import MemoryManager

    core.memory.add("My sister Ana lives in Porto")
    core.memory.add("I prefer short answers", kind="preference")
    core.memory.add("Dentist appointment on Friday", kind="event")
    page = MemoryManager(core)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: len(page.rows) == 3, timeout=TIMEOUT_MS)
    yield page
    page.close()
    assert page.tasks.pool.activeThreadCount() == 0


def _texts(page: Any) -> list[str]:
    return [page.table.item(r, 0).text() for r in range(page.table.rowCount())]


def _after(qtbot: Any, page: Any, action: Any) -> None:
    """Run a user action and wait until the page has refreshed from the database."""
    with qtbot.waitSignal(page.refreshed, timeout=TIMEOUT_MS):
        action()


def test_lists_filters_and_searches(qtbot: Any, manager: Any) -> None:
    assert set(_texts(manager)) == {
        "My sister Ana lives in Porto",
        "I prefer short answers",
        "Dentist appointment on Friday",
    }
    _after(
        qtbot,
        manager,
        lambda: manager.kind_filter.setCurrentIndex(manager.kind_filter.findData("preference")),
    )
    assert _texts(manager) == ["I prefer short answers"]
    _after(qtbot, manager, lambda: manager.kind_filter.setCurrentIndex(0))
    _after(qtbot, manager, lambda: manager.search.setText("where does my sister live"))
    assert _texts(manager)[0] == "My sister Ana lives in Porto"


def test_edit_pin_and_delete(qtbot: Any, manager: Any, core: Any) -> None:
    assert manager.select_memory(next(m.id for m in manager.rows if "sister" in m.text))
    mem_id = manager.current.id
    manager.editor.setPlainText("My sister Ana lives in Lisbon")
    _after(qtbot, manager, manager.save_button.click)
    assert core.memory.get(mem_id).text == "My sister Ana lives in Lisbon"
    assert "My sister Ana lives in Lisbon" in _texts(manager)

    manager.select_memory(mem_id)
    _after(qtbot, manager, manager.pin_button.click)
    assert core.memory.get(mem_id).pinned
    assert _texts(manager)[0] == "My sister Ana lives in Lisbon"  # pinned first
    assert manager.table.item(0, 2).text() == "📌"

    manager.select_memory(mem_id)
    manager.confirm = lambda *_a: False  # the user says no
    manager.delete_button.click()
    assert core.memory.get(mem_id) is not None
    manager.confirm = lambda *_a: True
    _after(qtbot, manager, manager.delete_button.click)
    assert core.memory.get(mem_id) is None
    assert len(_texts(manager)) == 2


def test_new_memory_and_delete_all(qtbot: Any, manager: Any, core: Any) -> None:
    manager.new_memory()
    manager.editor.setPlainText("I play the cello")
    _after(qtbot, manager, manager.save_button.click)
    assert "I play the cello" in [m.text for m in core.memory.memories()]
    manager.confirm = lambda *_a: True
    _after(qtbot, manager, manager.delete_all_button.click)
    assert core.memory.count() == 0 and _texts(manager) == []


def test_import_notes_runs_off_the_gui_thread(
    qtbot: Any, manager: Any, core: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "trip.md").write_text("# Trip\n\nWe fly to Oslo on the 3rd.\n\nPack wool socks.")
    (notes / "sub" / "recipes.txt").write_text("Grandma's soup: leeks, potatoes, cream.")
    (notes / "skip.pdf").write_bytes(b"%PDF")
    threads: list[threading.Thread] = []
    real = core.memory.import_notes

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    core.memory.import_notes = watched
    _after(qtbot, manager, lambda: manager.import_notes([notes]))
    assert threads and threads[0] is not threading.main_thread()
    texts = [m.text for m in core.memory.memories(kind="note")]
    assert any("Oslo" in t for t in texts) and any("leeks" in t for t in texts)
    assert manager.status.text() == "Imported 2 notes from 2 files"
    assert manager.progress.isHidden() and manager.count_label.text() == "5 memories"
    found = core.memory.search("what goes in grandma's soup", k=1)
    assert "leeks" in found[0].text
