"""The training process: it pauses while a reply streams, and a kill leaves everything as it was."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from app.adapters.train import TrainOptions
from app.core import Core
from app.errors import AdapterError
from tests.adapters.conftest import DATA, Trained, greedy


def _state(pid: int) -> str:
    # /proc/PID/stat: "pid (comm) S ..." ; the state letter follows the closing parenthesis.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_pause_while_busy_then_kill_leaves_active_adapter(trained: Trained) -> None:
    core = Core.open(load_model=True, n_threads=1)
    try:
        core.engine.wait_loaded()
        service = core.adapters
        active_id = service.import_file(trained.adapter)
        service.activate(active_id, 0.8)
        before_engine = core.engine.active_adapters
        service.feedback.import_jsonl(DATA)
        started = threading.Event()
        seen_paused: list[str] = []
        jobs = []

        def on_progress(event: dict) -> None:
            if event.get("event") == "progress":
                started.set()

        def record(busy: bool) -> None:
            if busy and jobs:
                time.sleep(0.2)  # SIGSTOP is delivered asynchronously
                seen_paused.append(_state(jobs[0].pid))

        errors: list[BaseException] = []

        def run() -> None:
            try:
                service.train(
                    TrainOptions(steps=500, threads=1),
                    on_progress=on_progress,
                    on_started=jobs.append,
                )
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert started.wait(600), "training never reported progress"
        core.engine.add_busy_listener(record)
        greedy(core.engine, "Say hello.", core.settings.system_prompt, max_tokens=4)
        core.engine.remove_busy_listener(record)
        job = jobs[0]
        assert seen_paused == ["T"]  # stopped while the reply streamed
        assert _state(job.pid) != "T" and not job.paused  # running again after it
        os.kill(job.pid, signal.SIGKILL)
        worker.join(60)
        assert not worker.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], AdapterError)
        assert "stopped unexpectedly" in str(errors[0])
        assert service.versions.active_id() == active_id
        assert service.versions.scale() == 0.8
        assert core.engine.active_adapters == before_engine
        assert [v.id for v in service.list()] == [active_id]
    finally:
        core.close()


def test_cancel_stops_the_process_and_registers_nothing() -> None:
    from app.cancel import CancelToken
    from app.errors import Cancelled

    core = Core.open(load_model=False)
    try:
        service = core.adapters
        service.feedback.import_jsonl(DATA)
        token = CancelToken()
        jobs = []

        def started(job) -> None:
            jobs.append(job)
            token.cancel()

        with pytest.raises(Cancelled, match="active adapter is unchanged"):
            service.train(TrainOptions(steps=50, threads=1), cancel=token, on_started=started)
        assert jobs[0].process.poll() is not None  # the process is gone, not orphaned
        assert service.list() == [] and service.versions.active_id() is None
        assert service.job is None
    finally:
        core.close()
