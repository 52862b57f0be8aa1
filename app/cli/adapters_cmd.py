"""`hearth adapters train|list|activate|deactivate|rollback|inspect|import|strength` (+ merge)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import open_core, print_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("adapters", help="personal LoRA adapters: train, activate, ...")
    sub = parser.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a new adapter from the feedback (waits)")
    train.add_argument("--steps", type=int, help="training steps (default: the app's own)")
    train.add_argument("--threads", type=int, default=0, help="0: the cores the model leaves")
    train.add_argument("--json", action="store_true")
    train.set_defaults(func=_train)
    listing = sub.add_parser("list", help="every adapter version")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    activate = sub.add_parser("activate", help="use an adapter version")
    activate.add_argument("id", type=int)
    activate.add_argument("--scale", type=float, help="strength, 0..2 (default: keep)")
    activate.set_defaults(func=_activate)
    sub.add_parser("deactivate", help="use the base model alone").set_defaults(func=_deactivate)
    sub.add_parser("rollback", help="go back to the previous adapter").set_defaults(func=_rollback)
    strength = sub.add_parser("strength", help="set the active adapter's scale (0..2)")
    strength.add_argument("scale", type=float)
    strength.set_defaults(func=_strength)
    inspect = sub.add_parser("inspect", help="check a GGUF LoRA file against the model in use")
    inspect.add_argument("path", type=Path)
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(func=_inspect)
    imp = sub.add_parser("import", help="add a GGUF LoRA made elsewhere (same base model)")
    imp.add_argument("path", type=Path)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=_import)
    from app.cli.merge_cmd import add_merge_parser

    add_merge_parser(sub)


def _service() -> tuple[Any, Any]:
    core = open_core(load_model=False)
    return core, core.adapters


def _train(args: argparse.Namespace) -> int:
    from app.adapters.train import TrainOptions

    core, service = _service()

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "progress":
            print(
                f"step {event['step']}/{event['steps']}  loss {event['loss']:.3f}  "
                f"eta {event['eta_s']:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        elif event.get("event") == "phase":
            print(f"{event['phase']}...", file=sys.stderr, flush=True)

    try:
        outcome = service.train(
            TrainOptions(steps=args.steps or TrainOptions.steps, threads=args.threads),
            on_progress=progress,
        )
    finally:
        core.close()
    if args.json:
        print_json(outcome.to_dict())
        return 0
    print(f"adapter {outcome.adapter_id} ({outcome.name}): {outcome.status}")
    print(f"  {outcome.reason}")
    parity = outcome.parity
    print(
        f"  parity: top-1 {parity['top1_adapter']:.2f} (base {parity['top1_base']:.2f}), "
        f"effect correlation {parity['delta_correlation']:.3f} at strength 1, "
        f"{parity['probe_correlation']:.3f} at the probe strength; per group "
        + ", ".join(f"{k} {v:.3f}" for k, v in parity.get("groups", {}).items())
    )
    print("  activated" if outcome.activated else "  not activated")
    return 0


def _list(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        active, scale = service.active()
        for version in service.list():
            row = version.to_dict()
            row["active"] = active is not None and active.id == version.id
            if args.json:
                print_json({**row, "scale": scale if row["active"] else None})
                continue
            mark = "*" if row["active"] else " "
            ev = row["evaluation"] or {}
            figures = (
                (
                    f"NLL {ev['held_nll_base']:.2f}->{ev['held_nll_adapter']:.2f} "
                    f"ppl x{ev['neutral_ppl_ratio']:.3f}"
                )
                if ev
                else ""
            )
            if version.status in ("refused", "rejected"):
                reason = str(version.manifest.get("gate", {}).get("reason", ""))
                figures = f"{figures}  ({reason[:90]})".strip()
            print(
                f"{mark} {version.id:3}  {version.name}  {version.status:8} "
                f"{version.created_at[:16]}  {figures}"
            )
    finally:
        core.close()
    return 0


def _activate(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        version = service.activate(args.id, args.scale)
        print(f"active: adapter {version.id} ({version.name}), strength {service.active()[1]}")
    finally:
        core.close()
    return 0


def _deactivate(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        service.deactivate()
        print("no adapter active: the base model answers")
    finally:
        core.close()
    return 0


def _rollback(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        version = service.rollback()
        print(
            "rolled back to the base model"
            if version is None
            else f"rolled back to adapter {version.id} ({version.name})"
        )
    finally:
        core.close()
    return 0


def _strength(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        service.set_scale(args.scale)
        print(f"strength {args.scale}")
    finally:
        core.close()
    return 0


def _inspect(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        info = service.inspect(args.path)
    finally:
        core.close()
    if args.json:
        print_json(info)
    else:
        print(
            f"{args.path.name}: LoRA for '{info['architecture']}', rank {info['rank']}, "
            f"alpha {info['alpha']}, {info['tensors']} tensors"
        )
        print(("compatible: " if info["compatible"] else "not compatible: ") + info["reason"])
    return 0


def _import(args: argparse.Namespace) -> int:
    core, service = _service()
    try:
        adapter_id = service.import_file(args.path)
    finally:
        core.close()
    if args.json:
        print_json({"id": adapter_id})
    else:
        print(
            f"imported as adapter {adapter_id}; `hearth adapters activate {adapter_id}` to use it"
        )
    return 0
