"""The user's adapter on their server: used only on the same base model, said plainly otherwise.

The decision alone, on every case; tests/adapters/test_adapter_on_server.py runs the user's
trained adapter on llama-cpp-python's real server.
"""

from __future__ import annotations

import json

import pytest

from app.llm.remote_setup import PersonalAdapter, plan_adapter
from app.llm.servers import ServerRecord

BASE = "a" * 64
OTHER = "b" * 64
ADAPTER = PersonalAdapter("ahoy-1", BASE, 0.8)


def record(base: str | None = BASE, **options: object) -> ServerRecord:
    return ServerRecord(1, "desk", "http://192.0.2.10:8080", None, False, base, dict(options))


def test_same_base_and_an_adapter_model_asks_for_that_model() -> None:
    plan = plan_adapter(record(adapter_model="smollm2-personal"), ADAPTER)
    assert plan.applies and plan.model == "smollm2-personal" and plan.extra == {}
    assert "answers on desk" in plan.message


def test_same_base_on_llama_cpp_server_sends_the_lora_list() -> None:
    plan = plan_adapter(record(lora_id=0), ADAPTER)
    assert plan.applies and plan.extra == {"lora": [{"id": 0, "scale": 0.8}]}


@pytest.mark.parametrize(
    ("server", "adapter", "why"),
    [
        (record(OTHER, adapter_model="personal"), ADAPTER, "runs another base model"),
        (record(None, adapter_model="personal"), ADAPTER, "cannot tell whether desk runs"),
        (record(BASE), ADAPTER, "has no adapter of yours set up"),
        (record(BASE, lora_id=0), PersonalAdapter("x", None), "cannot tell whether"),
    ],
)
def test_never_an_adapter_for_another_or_unknown_base(
    server: ServerRecord, adapter: PersonalAdapter, why: str
) -> None:
    plan = plan_adapter(server, adapter)
    assert not plan.applies
    assert plan.message.startswith("Your personal adapter (") and why in plan.message
    assert "applies only to the local model" in plan.message
    assert plan.model != "personal" and "personal" not in json.dumps(plan.extra)
    if server.options.get("lora_id") is not None:
        assert plan.extra == {"lora": []}  # llama.cpp's server then runs no adapter at all
    if server.options.get("adapter_model"):
        assert plan.avoid == ("personal",)  # never picked as "the server's first model"


def test_a_hash_the_server_reports_overrules_the_declaration() -> None:
    reported = [f"/models/blobs/sha256-{OTHER}"]  # how Ollama names a model's file
    plan = plan_adapter(record(lora_id=0), ADAPTER, reported)
    assert not plan.applies and "another base model" in plan.message
    assert plan_adapter(record(lora_id=0), ADAPTER, [f"sha256-{BASE}"]).applies


def test_no_personal_adapter_means_none_is_used_and_nothing_is_said() -> None:
    plan = plan_adapter(record(adapter_model="personal", lora_id=0), None)
    assert not plan.applies and plan.message == "" and plan.extra == {"lora": []}
