"""The CLI over the real core: chat (plain, --json, --batch), models, doctor, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def hearth(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HEARTH_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input_text,
        timeout=600,
    )


def test_chat_json_prints_one_object() -> None:
    proc = hearth("chat", "Say hello.", "--json", "--max-tokens", "12", "--temperature", "0")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["response"].strip()
    assert obj["tokens"] > 0 and obj["tok_s"] > 0


def test_chat_batch_answers_each_line_in_a_fresh_conversation(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"prompt": "Name a fruit."}\n\n{"prompt": "Name a city."}\n')
    proc = hearth("chat", "--batch", str(batch), "--json", "--max-tokens", "8")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == ["Name a fruit.", "Name a city."]
    assert all(r["response"].strip() for r in rows)
    assert rows[0]["conversation_id"] != rows[1]["conversation_id"]


def test_bad_batch_line_is_a_clear_error(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"prompt": "ok"}\nnot json\n')
    proc = hearth("chat", "--batch", str(batch), "--json")
    assert proc.returncode == 2
    assert "in.jsonl, line 2" in proc.stderr and "Traceback" not in proc.stderr


def test_models_add_corrupt_and_truncated_files_clearly(
    default_model: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"\x00" * 4096)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(default_model.read_bytes()[:20_000_000])
    for path, reason in [(corrupt, "not a GGUF"), (truncated, "truncated")]:
        proc = hearth("models", "add", str(path))
        assert proc.returncode == 2
        assert path.name in proc.stderr and reason in proc.stderr
        assert "Traceback" not in proc.stderr
    listed = hearth("models", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["active"]


def test_models_add_and_use_a_second_architecture(gemma_model: Path) -> None:
    proc = hearth("models", "add", str(gemma_model), "--use")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in hearth("models", "list", "--json").stdout.splitlines()]
    active = [r for r in rows if r["active"]]
    assert active and active[0]["architecture"] == "gemma3"


def test_models_list_shows_the_header_and_remove_refuses_the_model_in_use(model_copy) -> None:
    second = model_copy("second.gguf")
    assert hearth("models", "add", str(second)).returncode == 0
    rows = [json.loads(line) for line in hearth("models", "list", "--json").stdout.splitlines()]
    assert [(r["architecture"], r["quantization"], r["context_length"]) for r in rows] == [
        ("llama", "Q4_1", 8192),
        ("llama", "Q4_1", 8192),
    ]
    assert all(r["size_mb"] > 90 and r["readable"] for r in rows)
    [active] = [r for r in rows if r["active"]]
    [other] = [r for r in rows if not r["active"]]
    plain = hearth("models", "list").stdout
    assert "(llama, Q4_1, 8,192 context, 98." in plain

    refused = hearth("models", "remove", str(active["id"]))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: ") and "is the model in use" in refused.stderr
    unknown = hearth("models", "remove", "999")
    assert unknown.returncode == 2 and "no model '999'" in unknown.stderr
    removed = hearth("models", "remove", str(other["id"]))
    assert removed.returncode == 0, removed.stderr
    assert "removed" in removed.stdout and second.is_file()  # the file itself is kept
    rows = [json.loads(line) for line in hearth("models", "list", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [active["id"]] and rows[0]["active"]


def test_doctor_reports_a_healthy_install() -> None:
    proc = hearth("doctor", "--json")
    obj = json.loads(proc.stdout)
    assert proc.returncode == 0, obj
    assert obj["ok"]
    names = {c["check"] for c in obj["checks"]}
    assert {"llama-cpp-python", "model", "database"} <= names


def test_chat_with_a_message_longer_than_the_context_is_refused_cleanly() -> None:
    proc = hearth("chat", "word " * 6000, "--max-tokens", "8")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "context" in proc.stderr
    assert "Traceback" not in proc.stderr
    from app.store import open_store

    with open_store() as store:  # nothing was stored for it, not even a conversation
        assert store.scalar("SELECT count(*) FROM messages") == 0
        assert store.scalar("SELECT count(*) FROM conversations") == 0


def test_conversations_search_and_export_parse_back(tmp_path: Path) -> None:
    from app.conversation_search import parse_markdown
    from app.conversations import Conversations
    from app.store import open_store

    with open_store() as store:
        conversations = Conversations(store)
        conv = conversations.create("Garden")
        conversations.add_message(conv, "user", "When do I plant tulip bulbs?")
        conversations.add_message(conv, "assistant", "In autumn, 15 cm deep.")
    found = hearth("conversations", "search", "tulip", "--json")
    assert found.returncode == 0, found.stderr
    [hit] = [json.loads(line) for line in found.stdout.splitlines()]
    assert hit["conversation_id"] == conv and "**tulip**" in hit["snippet"]
    out = tmp_path / "garden.json"
    assert hearth("conversations", "export", str(conv), "--format", "json", "-o", str(out))
    data = json.loads(out.read_text())
    assert [m["content"] for m in data["messages"]] == [
        "When do I plant tulip bulbs?",
        "In autumn, 15 cm deep.",
    ]
    md = hearth("conversations", "export", str(conv), "--format", "md")
    assert parse_markdown(md.stdout) == (
        "Garden",
        [("user", "When do I plant tulip bulbs?"), ("assistant", "In autumn, 15 cm deep.")],
    )
    missing = hearth("conversations", "export", "999")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def test_settings_get_and_set_check_values() -> None:
    assert hearth("settings", "set", "top-p", "0.8").returncode == 0
    refused = hearth("settings", "set", "temperature", "9")
    assert refused.returncode == 2 and "between 0 and 2" in refused.stderr
    assert "Traceback" not in refused.stderr
    values = json.loads(hearth("settings", "get", "--json").stdout)
    assert values["top_p"] == 0.8 and values["temperature"] == 0.7
    assert values["schema_version"] == 2
    assert hearth("settings", "get", "top-p").stdout.strip() == "0.8"
