"""A model that crashes or hangs llama.cpp is a message, not a dead app; the verdict is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main as cli
from app.errors import ModelError
from app.llm import probe
from app.llm.engine import Engine


@pytest.fixture(autouse=True)
def _fresh_verdicts():
    probe.forget()
    yield
    probe.forget()  # an injected crash must not be remembered for the next test


def test_a_crashing_model_is_refused_in_the_cli_and_the_active_model_stays(
    default_model, model_copy, monkeypatch, capsys
):
    assert cli(["models", "list"]) == 0  # registers the default model
    capsys.readouterr()
    crashing = model_copy("crashes.gguf")
    monkeypatch.setenv(probe.FAULT_ENV, "segv")

    assert cli(["models", "add", str(crashing), "--use"]) == 2
    err = capsys.readouterr().err
    assert "crashes.gguf crashes llama.cpp on this computer" in err
    assert "signal 11" in err and "the model in use stays as it was" in err
    assert "Traceback" not in err

    assert cli(["models", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(Path(m["path"]).name, m["active"]) for m in listed] == [(default_model.name, True)]

    # Remembered on disk: the next start refuses it without running it again.
    probe.forget()
    monkeypatch.delenv(probe.FAULT_ENV)
    verdict = probe.cached(crashing)
    assert verdict is not None and not verdict.ok and verdict.signal == 11
    with pytest.raises(ModelError, match=r"crashes llama\.cpp"):
        probe.ensure_safe(crashing)


def test_a_hanging_model_is_killed_after_its_timeout(model_copy, monkeypatch):
    hanging = model_copy("hangs.gguf")
    monkeypatch.setenv(probe.FAULT_ENV, "hang")
    with pytest.raises(ModelError, match=r"hangs llama.cpp on this computer \(no answer in 3 s"):
        probe.ensure_safe(hanging, timeout=3)


def test_a_good_model_is_checked_once_then_remembered(model_copy, monkeypatch):
    good = model_copy("good.gguf")
    first = probe.ensure_safe(good)
    assert first.ok and first.checked_at > 0
    # A second check must not start a child: make any child crash, and it still passes.
    monkeypatch.setenv(probe.FAULT_ENV, "segv")
    probe.forget()
    assert probe.ensure_safe(good).checked_at == first.checked_at


def test_the_engine_keeps_answering_with_its_model_when_the_next_one_crashes(
    default_model, model_copy, monkeypatch
):
    engine = Engine(n_threads=1, n_ctx=512)
    try:
        engine.load(default_model).result()
        before = engine.model_info
        monkeypatch.setenv(probe.FAULT_ENV, "segv")
        crashing = model_copy("crash-at-decode.gguf")
        with pytest.raises(ModelError, match=r"crashes llama\.cpp"):
            engine.load(crashing).result()
        assert engine.model_info == before
        reply = engine.generate_text(
            [{"role": "user", "content": "Say yes."}], max_tokens=4, temperature=0
        )
        assert reply.strip()
    finally:
        engine.close()


def test_an_unknown_architecture_is_a_clear_message(tmp_path, capsys):
    import gguf
    import numpy as np

    path = tmp_path / "strange.gguf"
    writer = gguf.GGUFWriter(str(path), "hearthnet")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    assert cli(["models", "add", str(path)]) == 2
    err = capsys.readouterr().err
    assert "strange.gguf" in err and "hearthnet" in err
    assert "Traceback" not in err


def test_a_model_that_vanishes_after_its_check_is_a_message(default_model, model_copy):
    engine = Engine(n_threads=1, n_ctx=512)
    try:
        engine.load(default_model).result()
        before = engine.model_info
        gone = model_copy("gone.gguf")
        assert probe.ensure_safe(gone).ok
        gone.unlink()
        with pytest.raises(ModelError, match="no such file"):
            engine.load(gone).result()
        assert engine.model_info == before
    finally:
        engine.close()
