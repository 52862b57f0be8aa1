"""`hearth feedback ...` and `hearth adapters ...` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main as cli_main
from tests.adapters.conftest import DATA, Trained


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_feedback_import_and_list(capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["feedback", "import", str(DATA), "--json"]) == 0
    assert _json_lines(capsys.readouterr().out) == [{"imported": 25, "total": 25}]
    assert cli_main(["feedback", "list", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 25 and all(r["correction"].startswith("Ahoy!") for r in rows)
    assert cli_main(["feedback", "delete", str(rows[0]["id"])]) == 0
    capsys.readouterr()
    assert cli_main(["feedback", "import", "/nonexistent.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_adapters_import_activate_list_rollback(
    trained: Trained, capsys: pytest.CaptureFixture
) -> None:
    assert cli_main(["adapters", "import", str(trained.adapter), "--json"]) == 0
    adapter_id = _json_lines(capsys.readouterr().out)[0]["id"]
    assert cli_main(["adapters", "activate", str(adapter_id), "--scale", "0.7"]) == 0
    assert "strength 0.7" in capsys.readouterr().out
    assert cli_main(["adapters", "list", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [(r["id"], r["active"], r["scale"]) for r in rows] == [(adapter_id, True, 0.7)]
    assert rows[0]["evaluation"]["held_nll_adapter"] < rows[0]["evaluation"]["held_nll_base"]
    assert cli_main(["adapters", "rollback"]) == 0
    assert "base model" in capsys.readouterr().out
    assert cli_main(["adapters", "list", "--json"]) == 0
    assert not _json_lines(capsys.readouterr().out)[0]["active"]
    assert cli_main(["adapters", "activate", "999"]) == 2
    assert "no adapter with id 999" in capsys.readouterr().err


def test_adapters_inspect(trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["adapters", "inspect", str(trained.adapter), "--json"]) == 0
    info = _json_lines(capsys.readouterr().out)[0]
    assert info["compatible"] and info["rank"] == 8 and info["architecture"] == "llama"
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"nope")
    assert cli_main(["adapters", "inspect", str(junk)]) == 2
    assert "not a GGUF" in capsys.readouterr().err


def test_train_needs_feedback(capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["adapters", "train", "--steps", "2"]) == 2
    assert "at least" in capsys.readouterr().err


def test_chat_uses_the_active_adapter(trained: Trained, capsys: pytest.CaptureFixture) -> None:
    from app import paths

    # Memory off: this test is about the adapter, and recall would change the prompt.
    paths.settings_file().write_text(json.dumps({"schema_version": 1, "memory_enabled": False}))
    prompt = trained.held_prompts[0]
    chat = ["chat", prompt, "--temperature", "0", "--max-tokens", "6"]
    assert cli_main(chat) == 0
    base = capsys.readouterr().out.strip()
    assert cli_main(["adapters", "import", str(trained.adapter), "--json"]) == 0
    adapter_id = _json_lines(capsys.readouterr().out)[0]["id"]
    assert cli_main(["adapters", "activate", str(adapter_id)]) == 0
    capsys.readouterr()
    assert cli_main(chat) == 0
    styled = capsys.readouterr().out.strip()
    assert styled.startswith("Ahoy") and not base.startswith("Ahoy"), (base, styled)
