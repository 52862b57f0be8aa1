"""The user's trained adapter answering on their own server, only for the same base model.

llama-cpp-python's server loads an adapter with a model (`lora_path` in a model entry) and a
request picks the entry by its model name, as vLLM's `--lora-modules name=path` does. The test
serves the base model and the session's "Ahoy!" adapter side by side on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.cli import main as cli_main
from app.privacy import guard
from tests.adapters.conftest import Trained
from tests.llm.remote_server import LlamaServer

OTHER_BASE = "b" * 64


@pytest.fixture(scope="module")
def server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    base = str(trained.base_model)
    srv = LlamaServer(
        [
            {"model": base, "model_alias": "smollm2"},
            {"model": base, "model_alias": "smollm2-ahoy", "lora_path": str(trained.adapter)},
        ],
        tmp_path_factory.mktemp("srv"),
    )
    yield srv
    srv.stop()
    guard.disallow_all()


def test_the_users_adapter_answers_on_the_server_only_for_the_same_base(
    server: LlamaServer, trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import paths

    # Memory off: this test is about the adapter, and recall would change the prompt.
    paths.settings_file().write_text(json.dumps({"schema_version": 1, "memory_enabled": False}))
    assert cli_main(["adapters", "import", str(trained.adapter), "--json"]) == 0
    adapter_id = json.loads(capsys.readouterr().out.splitlines()[0])["id"]
    assert cli_main(["adapters", "activate", str(adapter_id)]) == 0
    mine = ["--adapter-model", "smollm2-ahoy"]
    assert cli_main(["engines", "add", "desk", server.url, "--same-base", *mine]) == 0
    assert (
        cli_main(["engines", "add", "other", server.url, "--base-sha256", OTHER_BASE, *mine]) == 0
    )
    capsys.readouterr()
    chat = ["chat", trained.held_prompts[0], "--temperature", "0", "--max-tokens", "6"]

    assert cli_main([*chat, "--engine", "desk"]) == 0
    same = capsys.readouterr()
    assert same.out.strip().startswith("Ahoy"), same.out
    assert "Your personal adapter" in same.err and "answers on desk" in same.err

    assert cli_main([*chat, "--engine", "other"]) == 0
    other = capsys.readouterr()
    assert not other.out.strip().startswith("Ahoy"), other.out
    assert "applies only to the local model: other runs another base model" in other.err
