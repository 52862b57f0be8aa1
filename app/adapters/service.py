"""AdapterService: feedback -> training job -> verified adapter -> gate -> hot swap, and versions.

The one object the window and the CLI use for personal adapters. Every change of the active
adapter goes through here: the file is checked against the base model, the engine swaps it in
without a reload, and only then does the database pointer move.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from app import paths
from app.adapters import continuation, dataset, evaluate, export, stale_jobs, statements
from app.adapters.feedback import FeedbackStore
from app.adapters.train import TrainingJob, TrainOptions
from app.adapters.versions import AdapterVersion, Versions
from app.atomic import write_bytes
from app.cancel import CancelToken
from app.errors import AdapterError, HearthError

MIN_EXAMPLES = 4
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    adapter_id: int
    name: str
    status: str  # 'ready' (activated), 'rejected' (gate closed) or 'refused' (parity failed)
    activated: bool
    reason: str
    figures: dict[str, Any]
    parity: dict[str, Any]
    training: dict[str, Any]
    # How the new adapter was merged into the one preference adapter (None: it was not).
    consolidation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def held_ids(examples: list[dataset.Example]) -> list[int]:
    """The feedback ids of held-back examples: what a manifest keeps instead of their text."""
    return [e.feedback_id for e in examples if e.feedback_id is not None]


def learnt_summary(split: dataset.Split, start: continuation.Continuation | None) -> dict:
    """The manifest's dataset: counts of this training's examples; `feedback_ids` every example
    the adapter learnt from, the ones of the adapter it started from included."""
    summary = {**split.summary(), "held_back_ids": held_ids(split.held)}
    if start is not None:
        summary["new_feedback_ids"] = summary["feedback_ids"]
        summary["feedback_ids"] = sorted(set(summary["feedback_ids"]) | start.learnt)
    return summary


class AdapterService:
    def __init__(self, core: Any) -> None:
        self.core = core
        self.store = core.store
        self.engine = core.engine
        self.feedback = FeedbackStore(self.store)
        self.versions = Versions(self.store)
        self.last_message: str | None = None
        self.job: TrainingJob | None = None
        try:
            stale_jobs.clean_stale()
        except OSError as exc:  # a stale folder must not cost the user their adapters
            log.warning("could not clean old training jobs: %s", exc)

    # -- the base model ----------------------------------------------------------------------
    def base_model(self) -> Any:
        return self.core.models.active()

    def check(self, path: Path) -> None:
        """Raise AdapterError unless `path` is a sound GGUF LoRA for the active base model."""
        from app.adapters.lora_file import base_model_info, read_lora

        base = self.base_model()
        read_lora(Path(path), base_model_info(base.path))
        recorded = export.read_manifest(Path(path)).get("base")
        expected = recorded.get("sha256") if isinstance(recorded, dict) else None
        if isinstance(expected, str) and expected and expected != base.sha256:
            raise AdapterError(
                f"{Path(path).name} was trained for another base model (sha256 {expected[:12]}…,"
                f" the model in use is {base.sha256[:12]}…)"
            )

    # -- the active adapter ------------------------------------------------------------------
    def _swap(self, version: AdapterVersion | None, scale: float) -> None:
        if not getattr(self.engine, "loaded", False):
            return  # applied by restore_active() once the model has loaded
        adapters = [] if version is None else [(version.path, scale)]
        self.engine.set_adapters(adapters)

    def restore_active(self) -> str | None:
        """After a model load: put the active adapter back, or fall back with a message."""
        version, message = self.versions.resolve_active(self.check)
        self._swap(version, self.versions.scale())
        self.last_message = message
        return message

    def active(self) -> tuple[AdapterVersion | None, float]:
        return self.versions.active(), self.versions.scale()

    def activate(self, adapter_id: int, scale: float | None = None) -> AdapterVersion:
        version = self.versions.get(adapter_id)
        if version.path is None:
            raise AdapterError(f"adapter {adapter_id} has no file ({version.status})")
        self.check(version.path)
        if scale is None:  # the strength its gate measured to fit, else the one in use
            scale = evaluate.strength_of(version.manifest) or self.versions.scale()
        self._swap(version, scale)
        return self.versions.activate(adapter_id, scale)

    def deactivate(self) -> None:
        self._swap(None, 1.0)
        self.versions.deactivate()

    def rollback(self) -> AdapterVersion | None:
        version = self.versions.rollback(self.check)
        self._swap(version, self.versions.scale())
        return version

    def set_scale(self, scale: float) -> None:
        self.versions.set_scale(scale)
        self._swap(self.versions.active(), scale)

    def list(self) -> list[AdapterVersion]:
        return self.versions.list()

    # -- files from elsewhere ----------------------------------------------------------------
    def inspect(self, path: Path) -> dict[str, Any]:
        from app.adapters.lora_file import read_lora

        adapter = read_lora(Path(path))
        info = {
            "path": str(path),
            "architecture": adapter.architecture,
            "rank": adapter.rank,
            "alpha": adapter.alpha,
            "tensors": len(adapter.tensors),
            "parameters": adapter.n_parameters(),
            "manifest": export.read_manifest(path),
        }
        try:
            self.check(Path(path))
            info["compatible"], info["reason"] = True, "fits the model in use"
        except (AdapterError, HearthError) as exc:
            info["compatible"], info["reason"] = False, str(exc)
        return info

    def import_file(self, path: Path) -> int:
        """Copy a GGUF LoRA made elsewhere into the adapters folder, after every check."""
        path = Path(path)
        if not path.is_file():
            raise AdapterError(f"{path}: no such file")
        self.check(path)
        from app.adapters.lora_file import read_lora

        adapter = read_lora(path)
        name = f"imported-{time.strftime('%Y%m%d-%H%M%S')}-{path.stem}"
        dest = paths.adapters_dir() / f"{name}.gguf"
        write_bytes(dest, path.read_bytes())
        base = self.base_model()
        manifest = {
            **export.read_manifest(path),
            "name": name,
            "source": str(path),
            "architecture": adapter.architecture,
            "rank": adapter.rank,
            "alpha": adapter.alpha,
            "targets": sorted(adapter.tensors),
            "base": {"sha256": base.sha256, "name": base.name},
        }
        export.write_manifest(dest, manifest)
        return self.versions.add(name, dest, manifest, status="imported")

    # -- training ----------------------------------------------------------------------------
    def train(
        self,
        options: TrainOptions | None = None,
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        cancel: CancelToken | None = None,
        on_started: Callable[[TrainingJob], None] | None = None,
    ) -> TrainOutcome:
        """Train, export, verify and gate a new adapter; blocks until done (run off the GUI)."""
        if self.job is not None:
            raise HearthError("a training job is already running")
        options = options or TrainOptions(rank=int(getattr(self.core.settings, "adapter_rank", 8)))
        if options.threads <= 0:
            options = replace(options, threads=self._free_threads())
        items = self.feedback.list()
        # A new preference on top of the adapter in use (app.adapters.continuation).
        start = continuation.plan(self, items, options.rank)
        split = dataset.build(start.unseen(items) if start else items, options.held_fraction)
        if len(split.train) + len(split.held) < MIN_EXAMPLES:
            raise HearthError(
                f"training needs at least {MIN_EXAMPLES} edited or thumbs-up answers "
                f"(there are {len(split.train) + len(split.held)})"
            )
        base = self.base_model()
        name = f"personal-{time.strftime('%Y%m%d-%H%M%S')}"
        job_dir = paths.jobs_dir() / name
        spec = {
            "name": name,
            "base_model": str(base.path),
            # the base dequantised by an earlier training (app.adapters.base_cache)
            "base_cache": str(paths.training_base_dir()),
            "out_dir": str(job_dir),
            "split": split.to_dict(),
            # The system prompt the chat uses, stated preferences included.
            "system": statements.system_prompt(self.core.settings.system_prompt, split.statements),
            "options": options.to_dict(),
            "init": start.spec() if start else None,
            # The process dies with this one (Linux: PR_SET_PDEATHSIG), even while stopped.
            "parent_pid": os.getpid(),
        }
        job = TrainingJob(spec, on_progress)
        self.job = job
        listening = options.pause_while_busy and hasattr(self.engine, "add_busy_listener")
        if listening:
            self.engine.add_busy_listener(job.on_busy)
        try:
            try:
                stale_jobs.claim(job_dir)
                # Started and waited on by this same thread: the process's parent-death
                # signal follows the thread that started it, so it must outlive the job.
                job.start()
                stale_jobs.claim(job_dir, job.pid)
                if listening and getattr(self.engine, "busy", False):
                    job.pause()
                if on_started is not None:
                    on_started(job)
                result = job.wait(cancel)
            finally:
                if listening:
                    self.engine.remove_busy_listener(job.on_busy)
                self.job = None
                stale_jobs.release(job_dir)
            return self._register(name, job_dir, result, split, base, options, cancel, start)
        finally:
            # The job folder held the training split (the user's text): gone whatever the
            # outcome. Tests keep the arrays (never the split) for the parity checks.
            if options.keep_arrays:
                (job_dir / "spec.json").unlink(missing_ok=True)
            else:
                shutil.rmtree(job_dir, ignore_errors=True)

    def _free_threads(self) -> int:
        """Every core, up to 4: the training process pauses while a reply streams and runs
        below the app's priority (train_job.main), so the model's own threads are not taken
        from it; leaving them idle made training twice as slow on a 2-core machine."""
        return max(1, min(4, os.cpu_count() or 1))

    def _register(
        self,
        name: str,
        job_dir: Path,
        result: dict[str, Any],
        split: dataset.Split,
        base: Any,
        options: TrainOptions,
        cancel: CancelToken | None = None,
        start: continuation.Continuation | None = None,
    ) -> TrainOutcome:
        parity, figures = result["parity"], result.get("evaluation", {})
        manifest: dict[str, Any] = {
            "format": "hearth-adapter/1",
            "name": name,
            "kind": "personal",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": {"sha256": base.sha256, "name": base.name, "architecture": base.architecture},
            "architecture": result["architecture"],
            "rank": result["rank"],
            "alpha": result["alpha"],
            "targets": result["targets"],
            # Ids and counts only: the held-back examples stay in the database (feedback ids).
            "dataset": learnt_summary(split, start),
            "continued_from": start.spec() if start else None,
            "training": result["training"],
            "export_s": result.get("export_s"),
            "options": options.to_dict(),
            "parity": parity,
            "evaluation": figures,
            "parents": [],
        }
        if not parity["passed"]:
            manifest["gate"] = {"passed": False, "reason": f"refused: {parity['reason']}"}
            adapter_id = self.versions.add(name, None, manifest, status="refused")
            return TrainOutcome(
                adapter_id,
                name,
                "refused",
                False,
                manifest["gate"]["reason"],
                figures,
                parity,
                result["training"],
            )
        passed, reason = evaluate.gate(figures)
        manifest["gate"] = {"passed": passed, "reason": reason}
        dest = paths.adapters_dir() / f"{name}.gguf"
        write_bytes(dest, (job_dir / "adapter.gguf").read_bytes())
        export.write_manifest(dest, manifest)
        status = "ready" if passed else "rejected"
        adapter_id = self.versions.add(name, dest, manifest, status=status)
        activated, consolidation = False, None
        if passed:
            # The new adapter joins the user's one preference adapter; the merge is activated
            # only if it keeps every parent's effect, else the previous adapter stays.
            from app.adapters.consolidate import consolidate

            merged = consolidate(self, adapter_id, cancel=cancel)
            activated = merged.activated
            consolidation = {
                "adapter_id": merged.adapter_id,
                "previous_id": merged.previous_id,
                "activated": merged.activated,
                "reason": merged.reason,
                "neutral_ppl_ratio": merged.neutral_ppl_ratio,
            }
            if not merged.activated:
                reason = f"{reason}; {merged.reason}"
        return TrainOutcome(
            adapter_id,
            name,
            status,
            activated,
            reason,
            figures,
            parity,
            result["training"],
            consolidation,
        )

    def close(self) -> None:
        if self.job is not None:
            self.job.cancel()
