"""The core's owner of learning jobs (app.adapters.jobs) and automatic training
(app.adapters.auto_train): one job at a time, progress and outcome to listeners, cancel, close;
the automatic-training decision as pure functions; the settings through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from app.adapters.auto_train import (
    Conditions,
    decide,
    last_trained_id,
    new_feedback,
    nothing_to_wait_for,
)
from app.adapters.jobs import end_text, progress_text
from app.adapters.train_job import HANG_ENV
from app.errors import HearthError
from tests.adapters.conftest import DATA


def _blocking(release: threading.Event, steps: int = 2) -> Any:
    """A job's work that reports `steps` events, then waits for `release` or its cancel."""

    def work(progress: Any, cancel: Any) -> str:
        for step in range(1, steps + 1):
            progress({"event": "progress", "step": step, "steps": steps, "loss": 1.0})
        while not release.wait(0.02):
            cancel.raise_if_cancelled()
        return "finished"

    return work


def test_one_job_at_a_time_with_progress_outcome_and_listeners(core: Any) -> None:
    jobs = core.learning
    assert core.learning is jobs  # one owner per core
    seen: list[tuple[str, str]] = []
    jobs.add_listener(lambda job: seen.append((job.state, job.status_text())))
    release = threading.Event()
    job = jobs.start("training", _blocking(release))
    assert jobs.current is job and jobs.running
    with pytest.raises(HearthError, match="a training is already running"):
        jobs.start("merging", _blocking(release))
    with pytest.raises(HearthError, match="already running"):
        core.learning.auto.jobs.train()  # the automatic path meets the same guard
    release.set()
    assert jobs.wait(10)
    assert job.state == "done" and job.outcome == "finished" and jobs.current is None
    assert jobs.last is job
    assert seen[0] == ("running", "Learning: starting…")
    assert ("running", "Learning: step 2 of 2…") in seen
    assert seen[-1][0] == "done"


def test_cancel_and_failure_end_the_job_with_their_reason(core: Any) -> None:
    jobs = core.learning
    job = jobs.start("merging", _blocking(threading.Event()))
    assert jobs.cancel()
    assert jobs.wait(10)
    assert job.state == "cancelled" and end_text(job).startswith("Merge cancelled")

    def broken(progress: Any, cancel: Any) -> None:
        raise HearthError("the adapter file is gone")

    failed = jobs.start("training", broken)
    assert jobs.wait(10)
    assert failed.state == "failed"
    assert end_text(failed) == "Training failed: the adapter file is gone"
    assert not jobs.cancel()  # nothing runs


def test_closing_the_core_cancels_a_running_training_process(
    core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real training process (held in its first stage) is stopped when the core closes."""
    monkeypatch.setenv(HANG_ENV, "loading")
    service = core.adapters
    service.feedback.import_jsonl(DATA)
    phases = threading.Event()
    core.learning.add_listener(lambda job: job.event.get("phase") == "loading" and phases.set())
    job = core.learning.train()
    assert phases.wait(120)
    process = service.job.process
    core.learning.close()
    assert process.poll() is not None  # the process is gone, not orphaned
    assert job.state == "cancelled" and service.job is None
    assert service.list() == []
    with pytest.raises(HearthError, match="closing"):
        core.learning.start("training", _blocking(threading.Event()))


def test_progress_and_end_texts() -> None:
    assert progress_text("training", {}) == "Learning: starting…"
    assert progress_text("training", {"event": "phase", "phase": "loading"}) == (
        "Learning: loading the model…"
    )
    step = {"event": "progress", "step": 12, "steps": 40, "loss": 0.5, "eta_s": 30}
    assert progress_text("training", step) == "Learning: step 12 of 40…"
    assert progress_text("merging", {}) == "Merging…"
    assert progress_text("merging", {"event": "merge", "done": 3, "total": 12}) == "Merging: 25%…"


def _conditions(**changes: Any) -> Conditions:
    idle = {
        "enabled": True,
        "new_feedback": 20,
        "min_feedback": 20,
        "replying": False,
        "job_running": False,
        "idle_s": 600.0,
        "load": 0.2,
        "cores": 2,
    }
    return Conditions(**{**idle, **changes})


def test_automatic_training_starts_only_when_due_and_idle() -> None:
    assert decide(_conditions(), idle_needed=120) == (
        True,
        "20 new feedback items and the machine is idle",
    )
    refused = {
        "automatic training is off": {"enabled": False},
        "19 new feedback items of the 20 needed": {"new_feedback": 19},
        "a training or merge is running": {"job_running": True},
        "a reply is being written": {"replying": True},
        "the user was active 30 s ago": {"idle_s": 30.0},
        "the machine is busy (load 2.0 on 2 cores)": {"load": 2.0},
    }
    for reason, change in refused.items():
        assert decide(_conditions(**change), idle_needed=120) == (False, reason), change
    assert decide(_conditions(load=None), idle_needed=120)[0]  # no load average: not a veto
    # The watcher waits through a busy moment, but not for feedback that has not come.
    assert not nothing_to_wait_for(_conditions(replying=True))
    assert nothing_to_wait_for(_conditions(new_feedback=3))
    assert nothing_to_wait_for(_conditions(enabled=False))


class _Version:
    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest


def test_new_feedback_counts_what_came_after_the_last_training(core: Any) -> None:
    feedback = core.adapters.feedback
    feedback.import_jsonl(DATA)  # 25 trainable examples
    feedback.add_statement("keep answers short")  # teaches no answer: not counted
    feedback.add("What is 2+2?", "5", rating=-1)  # a thumbs-down teaches no target either
    items = feedback.list()
    assert new_feedback(items, 0) == (25, 25)
    trained = [_Version({"kind": "personal", "dataset": {"feedback_ids": list(range(1, 21))}})]
    merged = _Version({"kind": "merged", "dataset": {"held_back_ids": [1]}})
    assert last_trained_id([*trained, merged]) == 20  # a later merge is no training
    assert new_feedback(items, last_trained_id(trained)) == (5, 25)
    assert last_trained_id([]) == 0
    assert last_trained_id([_Version({"kind": "personal", "dataset": "damaged"})]) == 0


def test_automatic_training_never_runs_beside_the_users_own(core: Any) -> None:
    core.settings.auto_train = True
    core.settings.auto_train_min_feedback = 4
    core.adapters.feedback.import_jsonl(DATA)
    auto = core.learning.auto
    auto.idle_s = 0.0
    release = threading.Event()
    users = core.learning.start("training", _blocking(release))
    conditions = auto.conditions()
    assert conditions.new_feedback == 25 and conditions.job_running
    assert not auto.check()
    assert auto.last_reason == "a training or merge is running"
    # Even when it decided a moment before the user's job started, the owner refuses it.
    idle = _conditions(min_feedback=4, newest_id=25)
    assert not auto.check(idle)
    assert "already running" in auto.last_reason
    assert core.learning.current is users
    release.set()
    assert core.learning.wait(10)


def test_an_automatic_training_that_fails_waits_for_new_feedback(
    core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    core.settings.auto_train = True
    core.settings.auto_train_min_feedback = 4
    core.adapters.feedback.import_jsonl(DATA)
    auto = core.learning.auto
    auto.idle_s = 0.0

    def crash(*_a: Any, **_k: Any) -> Any:  # the training process crashes at once
        raise HearthError("the training process crashed while loading the model")

    monkeypatch.setattr(core.adapters, "train", crash)
    assert auto.check(_conditions(min_feedback=4, newest_id=25))
    assert core.learning.wait(10)
    job = core.learning.last
    assert job.auto and job.state == "failed"
    assert auto.conditions().new_feedback == 0  # not started again for the same feedback
    assert nothing_to_wait_for(auto.conditions())


def test_after_feedback_the_core_trains_by_itself_once_the_machine_is_idle(
    core: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.adapters import auto_train

    monkeypatch.setenv(HANG_ENV, "loading")  # a real training process, held before the model
    load = [5.0]  # the machine's load, set by the test (the real one is whatever runs here)
    monkeypatch.setattr(auto_train, "load_average", lambda: load[0])
    core.settings.auto_train = True
    core.settings.auto_train_min_feedback = 4
    core.adapters.feedback.import_jsonl(DATA)
    auto = core.learning.auto
    auto.idle_s, auto.check_s = 0.0, 0.02
    started = threading.Event()
    core.learning.add_listener(lambda job: job.auto and started.set())
    auto.poke()  # feedback was added
    assert not started.wait(0.5)  # the machine is busy: it waits
    assert auto.last_reason.startswith("the machine is busy")
    load[0] = 0.1
    assert started.wait(30)
    job = core.learning.current
    assert job is not None and job.auto and job.kind == "training"
    core.learning.close()
    assert job.state == "cancelled" and core.adapters.job is None


def test_the_settings_round_trip_through_the_cli() -> None:
    def hearth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "settings", *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, HEARTH_THREADS="1"),
            timeout=120,
        )

    values = json.loads(hearth("get", "--json").stdout)
    assert values["auto_train"] is False and values["auto_train_min_feedback"] == 20
    assert hearth("set", "auto_train", "true").returncode == 0
    assert hearth("set", "auto-train-min-feedback", "12").returncode == 0
    refused = hearth("set", "auto_train_min_feedback", "0")
    assert refused.returncode == 2 and refused.stderr.startswith("error: ")
    assert "Traceback" not in refused.stderr
    assert hearth("get", "auto_train").stdout.strip() == "on"
    from app.settings import load_settings

    settings = load_settings()
    assert settings.auto_train is True and settings.auto_train_min_feedback == 12
