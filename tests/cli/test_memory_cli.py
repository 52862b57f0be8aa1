"""`hearth memory ...` end to end: real embedder, real database, exact JSON formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    code = main(["memory", *argv])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, lines, err


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def test_import_search_list_forget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        {
            "text": "Caroline: I went to the LGBTQ support group yesterday",
            "id": "D1:1",
            "created_at": "2023-05-08T13:56:00",
        },
        {"text": "Melanie: That's great! How did it feel?", "id": "D1:2"},
        {"text": "Caroline: Really empowering, everyone was so kind.", "id": "D1:3"},
        {"text": "Melanie: I painted a lake at sunrise last week.", "id": "D1:4"},
        {"text": "", "id": "D1:5"},
    ]
    data = tmp_path / "turns.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    code, [summary], _ = _run(capsys, "import", str(data))
    assert code == 0 and summary["imported"] == 4 and summary["skipped"] == 1

    code, [result], _ = _run(capsys, "search", "What did Melanie paint?", "--k", "2", "--json")
    assert code == 0 and result["query"] == "What did Melanie paint?"
    assert len(result["hits"]) <= 2
    top = result["hits"][0]
    assert set(top) == {"id", "source_ids", "text", "score"}
    assert "D1:4" in top["source_ids"]

    queries = tmp_path / "q.jsonl"
    asks = ["When did Caroline go to the support group?", "How did the group feel?"]
    queries.write_text("".join(json.dumps({"query": q}) + "\n" for q in asks), encoding="utf-8")
    code, results, _ = _run(capsys, "search", "--batch", str(queries), "--k", "3", "--json")
    assert code == 0 and [r["query"] for r in results] == asks
    assert "D1:1" in {s for h in results[0]["hits"] for s in h["source_ids"]}

    code, listed, _ = _run(capsys, "list", "--json")
    assert code == 0 and len(listed) == 4
    assert {m["source_ids"][0] for m in listed} == {"D1:1", "D1:2", "D1:3", "D1:4"}
    first = next(m for m in listed if m["source_ids"] == ["D1:1"])
    assert first["created_at"].startswith("2023-05-08T13:56:00")

    code, _, _ = _run(capsys, "forget", str(first["id"]))
    assert code == 0
    code, listed, _ = _run(capsys, "list", "--json")
    assert len(listed) == 3
    code, _, err = _run(capsys, "forget", str(first["id"]))
    assert code == 2 and err.startswith("error: ")


def test_add_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, [added], _ = _run(capsys, "add", "My sister is called Ana", "--json")
    assert code == 0 and added["action"] == "added"
    code, _, err = _run(capsys, "import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    code, _, err = _run(capsys, "import", str(bad))
    assert code == 2 and "line 2" in err


def test_cli_memory_never_loads_the_chat_model(capsys: pytest.CaptureFixture[str]) -> None:
    import app.llm.engine as engine_mod

    loads: list[Any] = []
    original = engine_mod.Engine.load
    engine_mod.Engine.load = lambda self, *a, **k: loads.append(a) or original(self, *a, **k)
    try:
        _run(capsys, "add", "I like tea")
        _run(capsys, "search", "tea", "--json")
    finally:
        engine_mod.Engine.load = original
    assert loads == []


def test_import_notes_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    long_text = " ".join(f"Sentence {i} about the garden shed." for i in range(60))
    (notes / "a.md").write_text(f"# Shed\n\n{long_text}\n\nThe key is under the blue pot.\n")
    (notes / "b.txt").write_text("Call the plumber about the boiler on Monday.")
    code, [summary], _ = _run(capsys, "import", str(notes))
    assert code == 0 and summary["files"] == 2 and summary["imported"] >= 3  # long note chunked
    code, [result], _ = _run(capsys, "search", "where is the shed key", "--k", "1", "--json")
    assert "blue pot" in result["hits"][0]["text"]


def test_about_prints_and_takes_a_correction(capsys: pytest.CaptureFixture[str]) -> None:
    code, [empty], _ = _run(capsys, "about", "--json")
    assert code == 0 and empty == {"about": ""}
    main(["memory", "add", "My sister is called Ana"])
    capsys.readouterr()
    code, [fixed], _ = _run(capsys, "about", "I'm", "Sam,", "Ana's", "brother", "--json")
    assert code == 0 and fixed == {"about": "I'm Sam, Ana's brother"}
    code, [again], _ = _run(capsys, "about", "--json")
    assert again == fixed
    code, _, _ = _run(capsys, "about", " ")
    assert code == 2
