"""Each version told in words, from its manifest and the feedback in the real database; and the
Personalization page's story and stated-preferences parts on a real widget tree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.adapters import describe
from app.core import Core
from tests.adapters.conftest import DATA

ACCEPTED = {
    "held_nll_base": 1.48,
    "held_nll_adapter": 0.71,
    "held_nll_full": 0.56,
    "neutral_ppl_base": 18.0,
    "neutral_ppl_adapter": 18.8,
    "neutral_ppl_ratio": 1.046,
    "neutral_ppl_ratio_full": 1.081,
    "neutral_tokens": 798.0,
    "strength": 0.6,
}


def _version(core: Core, *, status: str = "ready", **changes: Any) -> tuple[int, list[int]]:
    """A version registered as training registers one, on the Ahoy feedback of this home."""
    service = core.adapters
    service.feedback.import_jsonl(DATA)
    ids = [f.id for f in service.feedback.list()]
    held = ids[3:6]
    manifest: dict[str, Any] = {
        "name": "personal-x",
        "kind": "personal",
        "dataset": {
            "train_examples": len(ids) - len(held),
            "held_examples": len(held),
            "statements": 1,
            "feedback_ids": ids,
            "held_back_ids": held,
        },
        "training": {"steps_run": 24, "seconds": 61.0, "stopped_by_guard": False},
        "evaluation": dict(ACCEPTED),
        "gate": {"passed": True, "reason": "accepted at strength 0.60: ..."},
        **changes,
    }
    return service.versions.add("personal-x", None, manifest, status=status), held


def test_a_version_in_words(core: Core) -> None:
    version_id, held = _version(core)
    core.adapters.versions._point(version_id, 0.6)
    story = describe.describe(core.adapters, version_id)
    assert story.learnt == ["starts answers with “Ahoy!”"]
    assert story.state == "in use at strength 0.60"
    assert story.basis == (
        "Learnt from 22 of your examples; 3 more were held back to check it, "
        "with 1 stated preference."
    )
    assert story.strength.startswith("Used at strength 0.60, the most that stays within")
    assert "ordinary text got 8.1% harder to predict" in story.strength
    assert story.refusal is None
    # Two before/after examples, read from the held-back feedback by id.
    first = core.adapters.feedback.get(held[0])
    assert first is not None and len(story.examples) == 2
    assert story.examples[0] == describe.Example(first.prompt, first.response, first.correction)
    assert story.examples[0].after.startswith("Ahoy!")
    figures = dict(story.figures)
    assert figures["Strength"] == "0.60" and figures["Neutral ratio at full strength"] == "x1.081"
    # Feedback the user deleted is gone from the page too.
    core.adapters.feedback.delete(held[0])
    again = describe.describe(core.adapters, version_id)
    assert (
        [e.prompt for e in again.examples]
        == [
            core.adapters.feedback.get(i).prompt  # type: ignore[union-attr]
            for i in held[1:]
        ]
    )


def test_a_version_that_continued_from_another_says_so(core: Core) -> None:
    continued = {"adapter_id": 7, "path": "personal-a.gguf", "scale": 0.8}
    version_id, _ = _version(core, continued_from=continued)
    assert describe.describe(core.adapters, version_id).basis == (
        "Builds on version 7 and keeps what it learnt; learnt from 22 new examples of yours; "
        "3 more were held back to check it, with 1 stated preference."
    )


def test_a_refused_version_says_why(core: Core) -> None:
    harmful = {**ACCEPTED, "strength": None}
    reason = "raises neutral perplexity by more than 5% at every strength down to 0.1 (...)"
    version_id, _ = _version(
        core, status="rejected", evaluation=harmful, gate={"passed": False, "reason": reason}
    )
    story = describe.describe(core.adapters, version_id)
    assert story.refusal == reason
    assert story.state == "not in use (rejected)"
    assert story.strength == "No strength kept it within the no-harm budget."


@pytest.mark.parametrize(
    ("wanted", "said"),
    [
        (lambda a: a.split(". ")[0].rstrip(".") + ".", "keeps answers to one sentence"),
        (lambda a: a + " Cheers, friend!", "ends answers with “Cheers, friend!”"),
        (lambda a: f"- {a.split('. ')[0]}\n- In short: yes.", "puts answers as a list of points"),
        (lambda a: a + "\n\n-- Ana", "signs answers with “-- Ana” on a line of its own"),
    ],
)
def test_kinds_of_corrections(wanted: Any, said: str) -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line]
    answers = [r["response"] for r in rows]
    assert said in describe.kinds([(a, wanted(a)) for a in answers])


def test_page_tells_the_selected_version_and_edits_preferences(qtbot: Any, core: Core) -> None:
    pytest.importorskip("PySide6")
    from app.ui.personalization import PersonalizationPage

    _version(core)
    page = PersonalizationPage(core)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=30000)
    page.table.selectRow(0)
    text = page.story.text.text()
    assert "What it learnt: starts answers with “Ahoy!”." in text
    assert "Before:" in text and "After: Ahoy!" in text
    assert not page.story.figures.isVisibleTo(page)  # one click away
    page.story.figures_button.click()
    assert page.story.figures.isVisibleTo(page)
    assert "Neutral ratio at full strength" in page.story.figures.text()

    box = page.preferences
    box.entry.setText("keep answers short")
    box.add_button.click()
    qtbot.waitUntil(lambda: box.list.count() == 1, timeout=5000)
    box.list.item(0).setText("keep answers very short")
    qtbot.waitUntil(lambda: box.list.item(0).text() == "keep answers very short", timeout=5000)
    statements = core.adapters.feedback.list("statement")
    assert [s.statement for s in statements] == ["keep answers very short"]
    box.list.setCurrentRow(0)
    box.delete_button.click()
    qtbot.waitUntil(lambda: box.list.count() == 0, timeout=5000)
    assert core.adapters.feedback.list("statement") == []
    page.close()
