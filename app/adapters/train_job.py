"""The training process: `python -m app.adapters.train_job SPEC.json`.

Runs apart from the app so that a crash, a kill or its memory never touch the app or the active
adapter. It trains the LoRA, exports the GGUF into its job folder, checks logit parity against
llama.cpp and measures the evaluation figures; it prints one JSON object per line on stdout
(`phase`, `progress` with step/loss/ETA, then `done` or `error`) and writes `result.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.adapters.base_measures import BaseMeasures
from app.adapters.dataset import IGNORE, KEPT, Split, encode


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


# The stages the app names when the process dies in one (a native crash in torch or llama.cpp
# leaves no message of its own): the phase events are its only trace.
STAGES = {
    "starting": "starting",
    "loading": "loading the model",
    "training": "training",
    "exporting": "exporting the adapter",
    "verifying": "checking the adapter",
    "evaluating": "checking the adapter",
}
# Test-only fault injection (tests/reliability): crash (SIGSEGV) or hang at the start of the
# named stage, as a native fault would. Never set outside the tests.
CRASH_ENV = "HEARTH_TEST_CRASH_STAGE"
HANG_ENV = "HEARTH_TEST_HANG_STAGE"
_stage = "starting"


def enter(stage: str) -> None:
    """Tell the app which stage runs now, so that a crash in it can be named."""
    global _stage
    _stage = stage
    emit("phase", phase=stage)
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGSEGV)
    if os.environ.get(HANG_ENV) == stage:
        while True:
            time.sleep(60)


def stage_name(stage: str | None) -> str:
    """A reported phase as the user reads it ("exporting the adapter")."""
    return STAGES.get(stage or "starting", stage or "starting")


def describe_end(code: int, stage: str | None, *, stalled_s: float | None = None) -> str:
    """The app's message for a process that ended without its result."""
    where = stage_name(stage)
    unchanged = "the active adapter is unchanged"
    process = "the training process"
    if stalled_s is not None:
        return (
            f"the training process stopped responding while {where} (no progress for "
            f"{stalled_s:.0f} s) and was stopped; {unchanged}"
        )
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        if -code in _CRASH_SIGNALS:
            return f"{process} crashed while {where} (signal {-code}, {name}); {unchanged}"
        return (
            f"the training process stopped unexpectedly while {where} (killed by {name}, "
            f"signal {-code}); {unchanged}"
        )
    return f"{process} stopped unexpectedly while {where} (exit code {code}); {unchanged}"


_CRASH_SIGNALS = {
    int(getattr(signal, name))
    for name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")
    if hasattr(signal, name)
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def batches(n: int, size: int, steps: int, seed: int) -> list[list[int]]:
    """Example indices for each step: shuffled epochs, so every example is seen evenly."""
    rng = random.Random(seed)
    order: list[int] = []
    out = []
    for _ in range(steps):
        batch = []
        for _ in range(min(size, n)):
            if not order:
                order = list(range(n))
                rng.shuffle(order)
            batch.append(order.pop())
        out.append(batch)
    return out


def train(
    peft_model: Any,
    seqs: list[tuple[list[int], list[int]]],
    opts: dict[str, Any],
    harm: Callable[[], float] | None = None,
    *,
    hold_to_start: bool = False,
    anchor: list[tuple[list[int], list[int]]] | None = None,
    kept: BaseMeasures | None = None,
) -> dict:
    """AdamW on the LoRA weights: cross-entropy on the target tokens, plus (weight `hold`) the
    KL divergence from the base model's prediction at the tokens the user kept (KEPT labels),
    so that an edit teaches its change without the model learning its own words by heart.
    `hold_to_start`: hold the kept tokens to the model as training starts (the adapter in use
    it continues from, app.adapters.continuation) instead of the base.
    `anchor`: general texts (app.adapters.anchor), one a step held to the base model with
    weight `anchor_weight`; the base's states on them are taken from `kept` when an earlier
    training left them there.
    Every `guard_every` steps `harm()` (the neutral perplexity ratio) is checked; past
    `guard_max` training stops at the last step within it.
    """
    import torch

    from app.adapters.torch_model import training_precision
    from app.adapters.torch_scoring import engine

    params = [p for p in peft_model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=float(opts["lr"]), weight_decay=0.0)
    steps = int(opts["steps"])
    plan = batches(len(seqs), int(opts["batch_size"]), steps, int(opts["seed"]))
    every, limit = int(opts.get("guard_every", 5)), float(opts.get("guard_max", 1.04))
    hold = float(opts.get("hold", 1.0))
    precision, arithmetic = training_precision(bool(opts.get("mixed_precision", True)))
    snapshot = [p.detach().clone() for p in params]
    kept_step, stopped_at = 0, None
    with arithmetic():  # the hold's reference, in the precision the steps compare it at
        states = base_hidden_states(peft_model, seqs, hold_to_start) if hold > 0 else None
        anchor_weight = float(opts.get("anchor_weight", 0.0))
        anchor = anchor if anchor and anchor_weight > 0 else []
        anchor_states = []
        if anchor:
            anchor_states = (kept or BaseMeasures(None)).tensors(
                "anchor_states",
                engine(peft_model, precision),
                anchor,
                lambda: base_hidden_states(peft_model, anchor),
            )
    peft_model.train()
    started, loss_value = time.perf_counter(), float("nan")
    for step, batch in enumerate(plan, start=1):
        width = max(len(seqs[i][0]) for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        base = None if states is None else torch.zeros((len(batch), width, states[0].shape[-1]))
        for row, i in enumerate(batch):
            seq_ids, seq_labels = seqs[i]
            ids[row, : len(seq_ids)] = torch.tensor(seq_ids)
            labels[row, : len(seq_labels)] = torch.tensor(seq_labels)
            mask[row, : len(seq_ids)] = 1
            if base is not None and states is not None:
                base[row, : len(seq_ids)] = states[i]
        with arithmetic():
            loss = batch_loss(peft_model, ids, mask, labels, hold, base)
            if anchor:
                text_ids, text_labels = anchor[step % len(anchor)]
                loss = loss + batch_loss(
                    peft_model,
                    torch.tensor([text_ids]),
                    torch.ones((1, len(text_ids)), dtype=torch.long),
                    torch.tensor([text_labels]),
                    anchor_weight,
                    anchor_states[step % len(anchor)].unsqueeze(0),
                )
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        elapsed = time.perf_counter() - started
        emit(
            "progress",
            step=step,
            steps=steps,
            loss=round(loss_value, 4),
            elapsed_s=round(elapsed, 2),
            eta_s=round(elapsed / step * (steps - step), 1),
        )
        if harm is not None and every > 0 and (step % every == 0 or step == steps):
            peft_model.eval()
            ratio = harm()
            peft_model.train()
            if ratio > limit:
                with torch.no_grad():
                    for param, saved in zip(params, snapshot, strict=True):
                        param.copy_(saved)
                stopped_at = step
                emit("guard", step=step, neutral_ppl_ratio=round(ratio, 4), kept_step=kept_step)
                break
            snapshot = [p.detach().clone() for p in params]
            kept_step = step
    peft_model.eval()
    seconds = time.perf_counter() - started
    done = stopped_at if stopped_at is not None else steps
    return {
        "steps": steps,
        "steps_run": done,
        "kept_step": kept_step if stopped_at is not None else done,
        "stopped_by_guard": stopped_at is not None,
        "final_loss": loss_value,
        "seconds": seconds,
        "s_per_step": seconds / max(done, 1),
        "precision": precision,
    }


def batch_loss(
    model: Any, ids: Any, mask: Any, labels: Any, hold: float, base_states: Any = None
) -> Any:
    """Mean cross-entropy on the target tokens + `hold` x mean KL(base || adapted) at the kept
    tokens (positions shifted: row t predicts token t+1). `base_states`: the base model's last
    hidden states for this batch (`base_hidden_states`), so that the base's prediction costs
    its output layer at the kept tokens instead of a whole forward pass per step."""
    import torch
    from torch.nn import functional

    # The output layer (a sixth of the model per position) only from the row before the first
    # scored token of the batch: the system prompt and the question need no prediction.
    scored = (labels != IGNORE).any(dim=0).nonzero()
    start = max(int(scored[0]) - 1, 0) if len(scored) else ids.shape[1] - 1
    logits = model(
        input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=ids.shape[1] - start
    ).logits[:, :-1]
    targets = labels[:, start + 1 :]
    kept = targets == KEPT
    targets = targets.masked_fill(kept, IGNORE)
    vocab = logits.shape[-1]
    if bool((targets != IGNORE).any()):
        loss = functional.cross_entropy(
            logits.reshape(-1, vocab).float(), targets.reshape(-1), ignore_index=IGNORE
        )
    else:
        loss = logits.sum() * 0.0
    if hold > 0 and bool(kept.any()):
        with torch.no_grad():
            if base_states is not None:
                base = output_logits(model, base_states[:, start:-1][kept])
            else:
                with model.disable_adapter():
                    out = model(input_ids=ids, attention_mask=mask, use_cache=False)
                base = out.logits[:, start:-1][kept]
        base_logp = torch.log_softmax(base.float(), dim=-1)
        logp = torch.log_softmax(logits[kept].float(), dim=-1)
        kl = (base_logp.exp() * (base_logp - logp)).sum(dim=-1).mean()
        loss = loss + hold * kl
    return loss


def output_logits(model: Any, states: Any) -> Any:
    """The model's output layer on last hidden states (final soft-capping included where the
    architecture has it); the adapter does not touch this layer."""
    import torch

    logits = model.get_output_embeddings()(states)
    config = model.config
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def base_hidden_states(
    model: Any, seqs: list[tuple[list[int], list[int]]], adapter_on: bool = False
) -> list[Any]:
    """The base model's last hidden states (positions x hidden) of each sequence, adapter off
    (on: the model as it stands): one forward pass per batch of examples for the whole
    training instead of one per step."""
    import torch

    from app.adapters.torch_scoring import chunks, padded

    out: list[Any] = [None] * len(seqs)
    off = contextlib.nullcontext() if adapter_on else model.disable_adapter()
    with torch.no_grad(), off:
        for group in chunks([len(ids) for ids, _ in seqs]):
            ids, mask = padded([seqs[i][0] for i in group])
            run = model(
                input_ids=ids,
                attention_mask=mask,
                output_hidden_states=True,
                use_cache=False,
                logits_to_keep=1,  # the states are wanted, not the output layer
            )
            for row, i in enumerate(group):
                out[i] = run.hidden_states[-1][row, : len(seqs[i][0])]
    return out


def neutral_guard(
    scorer: Any, tokenizer: Any, spec: dict[str, Any], system: str | None
) -> Callable[[], float]:
    """The gate's harm rule checked in torch, to stop training in time: the same neutral set,
    the same token ids and the same statistic as the gate (app.adapters.neutral)."""
    from app.adapters.neutral import torch_harm

    return torch_harm(scorer, tokenizer, spec, system)


def n_ctx_for(seqs: list[tuple[list[int], list[int]]]) -> int:
    """Context for scoring: the longest sequence, no more: with logits for every position
    llama-cpp-python keeps n_ctx x vocab floats."""
    longest = max((len(ids) for ids, _ in seqs), default=0)
    return max(256, longest + 16)


def check_rows(ids: list[int], labels: list[int], limit: int) -> tuple[list[int], slice]:
    """A sequence for the parity check, cut after the first `limit` answer tokens, and the
    rows of its logits that predict them. Causal attention makes the rows kept the same as
    in the whole sequence; both engines then score a third fewer tokens or more."""
    first = next(i for i, label in enumerate(labels) if label != IGNORE)
    end = min(len(ids), first + max(1, limit))
    return ids[:end], slice(first - 1, end - 1)


def save_arrays(
    out_dir: Path,
    factors: dict,
    check: list[tuple[list[int], slice]],
    base: list,
    adapted: list,
    probes: dict[str, tuple[float, list]],
) -> None:
    """Keep the factors (HF row order) and torch's logits, for re-exporting and re-checking."""
    import numpy as np

    arrays = {f"{name}|a": a for name, (a, _) in factors.items()}
    arrays.update({f"{name}|b": b for name, (_, b) in factors.items()})
    np.savez(out_dir / "factors.npz", **arrays)
    logits = {f"base|{i}": x for i, x in enumerate(base)}
    logits.update({f"adapter|{i}": x for i, x in enumerate(adapted)})
    for name, (_, values) in probes.items():
        logits.update({f"{name}|{i}": x for i, x in enumerate(values)})
    np.savez(out_dir / "torch_logits.npz", **logits)
    rows = [[ids, [r.start, r.stop]] for ids, r in check]
    scales = {name: scale for name, (scale, _) in probes.items()}
    (out_dir / "check_seqs.json").write_text(json.dumps({"rows": rows, "scales": scales}))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from app.adapters import evaluate, export, torch_model, verify
    from app.adapters.scoring import LlamaScorer
    from app.adapters.torch_scoring import TorchScorer

    opts = spec["options"]
    out_dir = Path(spec["out_dir"])
    base_path = Path(spec["base_model"])
    data = Split.from_dict(spec["split"])
    system = spec.get("system")
    enter("loading")
    cache = Path(spec["base_cache"]) if spec.get("base_cache") else None
    base = torch_model.load_base(base_path, threads=int(opts["threads"]), cache=cache)
    train_seqs = [encode(base.tokenizer, e, system, int(opts["max_len"])) for e in data.train]
    held_seqs = [encode(base.tokenizer, e, system, int(opts["max_len"])) for e in data.held]
    if not train_seqs:
        raise ValueError("no training examples")
    model = torch_model.add_lora(
        base.model, rank=int(opts["rank"]), alpha=float(opts["alpha"]), seed=int(opts["seed"])
    )
    init = spec.get("init")
    if init:  # a new preference on top of the adapter in use (app.adapters.continuation)
        from app.adapters.lora_file import read_lora

        export.into_peft(
            model,
            read_lora(Path(init["path"])),
            scale=float(init["scale"]),
            n_head=base.n_head,
            n_kv_head=base.n_kv_head,
        )
    enter("training")
    from app.adapters import anchor
    from app.adapters.neutral import for_spec

    anchor_seqs = anchor.sequences(base.tokenizer)
    shipped = for_spec(spec)
    neutral_seqs = shipped.sequences(base.tokenizer, system)
    # The base model's figures on the shipped texts, kept for the next training
    # (app.adapters.base_measures); never any of the user's examples.
    kept = BaseMeasures(
        base.cache_entry,
        public=[neutral_seqs, shipped.answer_sequences(base.tokenizer, system), anchor_seqs],
    )
    scorer = TorchScorer(model, kept)  # the guard's and the gate's measures (torch_scoring)
    harm = neutral_guard(scorer, base.tokenizer, spec, system)
    training = train(
        model, train_seqs, opts, harm, hold_to_start=bool(init), anchor=anchor_seqs, kept=kept
    )
    training["continued_from"] = init["adapter_id"] if init else None
    training["peak_rss_mb"] = peak_rss_mb()

    enter("exporting")
    rows = int(opts.get("parity_rows", 32))
    check = [check_rows(ids, lb, rows) for ids, lb in (held_seqs or train_seqs)]
    check = check[: int(opts.get("parity_prompts", 4))]
    torch_ad = torch_model.rows_logits(model, check)
    with model.disable_adapter():
        torch_base = torch_model.rows_logits(model, check)
    # Each group's check on fewer sequences: a layout error shows at once (0.19 against
    # 0.98+ measured), and the probes are most of the check's forward passes.
    probe_seqs = check[: int(opts.get("probe_prompts", 2))]
    probes = {}
    for name, members in verify.probe_sets().items():
        at_one = (
            torch_ad[: len(probe_seqs)]
            if name == verify.ALL
            else torch_model.group_logits(model, members, 1.0, probe_seqs)
        )
        scale = verify.probe_scale(torch_base[: len(probe_seqs)], at_one)
        probes[name] = (scale, torch_model.group_logits(model, members, scale, probe_seqs))
    started = time.perf_counter()  # export: factors out of PEFT, layout, GGUF on disk
    factors = export.peft_factors(model)
    if opts.get("keep_arrays"):
        save_arrays(out_dir, factors, check, torch_base, torch_ad, probes)
    adapter = export.to_llama_cpp(
        factors,
        architecture=base.architecture,
        n_head=base.n_head,
        n_kv_head=base.n_kv_head,
        alpha=float(opts["alpha"]),
        permute=bool(opts.get("permute", True)),
        metadata={"name": spec.get("name", "adapter")},
    )
    gguf_path = out_dir / "adapter.gguf"
    from app.adapters.lora_file import write_lora

    write_lora(gguf_path, adapter)
    export_s = time.perf_counter() - started

    # The gate's figures in torch, before the model is let go; they count only if the parity
    # check below shows llama.cpp runs the same adapter (`evaluate`).
    enter("evaluating")
    figures = evaluate.measure(
        scorer, gguf_path, held_seqs or train_seqs, spec, tokenizer=base.tokenizer
    )
    figures["measured_in"] = "torch"
    # llama.cpp's context must also hold the neutral texts (evaluate.confirm scores them).
    scored = [*train_seqs, *held_seqs, *neutral_seqs]
    del model, base, scorer

    enter("verifying")
    n_ctx = n_ctx_for(scored)
    llama = LlamaScorer(base_path, n_ctx=n_ctx, n_threads=int(opts["threads"]), kept=kept)
    try:
        parity = verify.check(
            llama, gguf_path, adapter, check, torch_base, torch_ad, probes, out_dir
        )
        if parity.passed:  # the harm at the chosen strength, as the app will run it
            figures = evaluate.confirm(llama, gguf_path, figures, held_seqs or train_seqs, spec)
    finally:
        llama.close()
    if not parity.passed:
        figures = {}
    result = {
        "architecture": adapter.architecture,
        "rank": adapter.rank,
        "alpha": adapter.alpha,
        "targets": sorted(adapter.tensors),
        "training": training,
        "export_s": export_s,
        "parity": parity.to_dict(),
        "evaluation": figures,
        "held_out_used": bool(held_seqs),
    }
    (out_dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def exit_with_parent() -> None:
    """Stop when the app that started the job is gone: an orphaned job only burns the cores.

    On Linux the kernel kills the process when its parent dies (PR_SET_PDEATHSIG), even while
    it is stopped by SIGSTOP (paused during a reply), when no thread of its own could run.
    Elsewhere a thread watches for the parent to change.
    """
    import threading

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def private_tmp(job_dir: Path) -> None:
    """Temporary files of this process and its libraries go inside the job folder (0700,
    removed with it whatever the outcome), not into the shared /tmp."""
    import tempfile

    folder = job_dir / "tmp"
    folder.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    exit_with_parent()
    # Below the app in the scheduler: training may use every core while the app is idle, and
    # the window and the replies still get a core the moment they want one.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    from app.privacy import guard, hygiene

    # Offline, guarded and private (umask 077) like the app, before torch is imported.
    guard.install(guard.lazy_store_recorder(), tidy=False)
    spec_path = Path(args[0])
    (spec_path.parent / hygiene.PID_FILE).write_text(str(os.getpid()))
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    spec_path.unlink(missing_ok=True)  # the training split (user text) lives on in memory only
    private_tmp(spec_path.parent)
    if spec.get("parent_pid") not in (None, os.getppid()):
        return 3  # the app that wrote the spec died before the parent-death signal was set
    try:
        result = run(spec)
    except Exception as exc:  # reported to the app as a message; the app stays untouched
        emit("error", message=f"{type(exc).__name__}: {exc}", phase=_stage)
        return 1
    emit(
        "done",
        result=str(Path(spec["out_dir"]) / "result.json"),
        parity_passed=result["parity"]["passed"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
