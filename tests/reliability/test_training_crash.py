"""A training process that crashes (a native fault in torch or llama.cpp) or hangs ends in a
message naming the stage it died in; the active adapter and the stored versions stay as they
were. The fault is injected in the real process through its test-only environment flags."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from app.adapters.train import TrainOptions
from app.adapters.train_job import CRASH_ENV, HANG_ENV
from app.errors import AdapterError
from tests.adapters.test_merge_helpers import random_adapter
from tests.reliability.conftest import DATA, run_cli

FAST = TrainOptions(steps=1, threads=1, pause_while_busy=False)


def _with_active_adapter(core: Any, tmp_path: Path) -> int:
    from app.adapters.lora_file import base_model_info, write_lora

    base = base_model_info(core.adapters.base_model().path)
    path = tmp_path / "skill.gguf"
    write_lora(path, random_adapter(base, b_scale=0.002, seed=3, layers=[0]))
    adapter_id = int(core.adapters.import_file(path))
    core.adapters.activate(adapter_id, 0.7)
    core.adapters.feedback.import_jsonl(DATA)
    return adapter_id


def _unchanged(core: Any, adapter_id: int) -> None:
    service = core.adapters
    assert service.versions.active_id() == adapter_id
    assert service.versions.scale() == 0.7
    assert [v.id for v in service.list()] == [adapter_id]
    assert service.job is None


def test_a_crash_while_loading_names_the_stage_and_the_signal(
    core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter_id = _with_active_adapter(core, tmp_path)
    monkeypatch.setenv(CRASH_ENV, "loading")
    with pytest.raises(AdapterError) as caught:
        core.adapters.train(FAST)
    assert str(caught.value) == (
        "the training process crashed while loading the model "
        f"(signal {int(signal.SIGSEGV)}, SIGSEGV); the active adapter is unchanged"
    )
    _unchanged(core, adapter_id)


def test_a_hang_is_stopped_and_named(
    core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter_id = _with_active_adapter(core, tmp_path)
    monkeypatch.setenv(HANG_ENV, "loading")
    jobs: list[Any] = []

    def started(job: Any) -> None:
        job.stall_s = 2.0  # the real limit is minutes; the rule is the same
        jobs.append(job)

    with pytest.raises(AdapterError, match="stopped responding while loading the model"):
        core.adapters.train(FAST, on_started=started)
    assert jobs[0].process.poll() is not None  # the hung process is gone
    _unchanged(core, adapter_id)


def test_a_crash_while_training_is_a_clear_cli_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real process loads the model in torch, then crashes as training starts."""
    assert run_cli(capsys, "feedback", "import", str(DATA)).code == 0
    monkeypatch.setenv(CRASH_ENV, "training")
    result = run_cli(capsys, "adapters", "train", "--steps", "1", "--threads", "1")
    result.clean_error(
        "the training process crashed while training",
        "SIGSEGV",
        "the active adapter is unchanged",
    )
    assert "loading..." in result.err  # it got through loading first
    listing = run_cli(capsys, "adapters", "list", "--json")
    assert listing.code == 0 and listing.out.strip() == ""


def test_the_window_shows_the_crash_and_keeps_the_adapter(
    qtbot: Any, core: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("PySide6")
    from app.ui.personalization import PersonalizationPage

    adapter_id = _with_active_adapter(core, tmp_path)
    monkeypatch.setenv(CRASH_ENV, "loading")
    page = PersonalizationPage(core)
    qtbot.addWidget(page)
    page.train()
    qtbot.waitUntil(
        lambda: "crashed while loading the model" in page.message.text(), timeout=60_000
    )
    assert "the active adapter is unchanged" in page.message.text()
    assert page.train_button.isEnabled()
    _unchanged(core, adapter_id)
    page.close()
    qtbot.waitUntil(lambda: page.tasks.pool.activeThreadCount() == 0, timeout=30_000)
