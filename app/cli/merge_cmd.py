"""`hearth adapters merge ID ID [...]`: merge stored adapter versions, report, maybe activate.

Added to `hearth adapters` by `adapters_cmd.register` through `add_merge_parser`. The merge is
stored as a new version either way; `--activate` switches to it only if every parent keeps
its effect (the same rule consolidation uses). `hearth adapters lineage` prints the tree.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import open_core, print_json

METHODS = ("cat", "linear", "ties", "dare")


def add_merge_parser(subparsers: Any) -> None:
    merge = subparsers.add_parser(
        "merge", help="merge adapter versions (cat, linear, ties, dare) into a new one"
    )
    merge.add_argument("ids", type=int, nargs="+", metavar="ID", help="two or more versions")
    merge.add_argument("--method", choices=METHODS, default=None, help="default: ties")
    merge.add_argument("--weights", type=float, nargs="+", help="one per adapter (linear, ...)")
    merge.add_argument("--density", type=float, help="ties: share of entries kept (0..1]")
    merge.add_argument("--drop", type=float, help="dare: drop probability p in [0, 1)")
    merge.add_argument("--variant", choices=("linear", "ties"), help="dare: how to combine")
    merge.add_argument("--rank", type=int, help="cut the result to this rank")
    merge.add_argument("--seed", type=int, help="dare: seed of the drops")
    merge.add_argument("--no-eval", action="store_true", help="skip measuring retention")
    merge.add_argument("--activate", action="store_true", help="use it if it keeps every effect")
    merge.add_argument("--json", action="store_true")
    merge.set_defaults(func=_merge)
    tree = subparsers.add_parser("lineage", help="adapter versions as a tree of merges")
    tree.add_argument("--json", action="store_true")
    tree.set_defaults(func=_lineage)


def _merge(args: argparse.Namespace) -> int:
    from app.adapters.consolidate import DEFAULT_METHOD, merge_versions, preference_rank
    from app.adapters.merge import make_options

    method = args.method or DEFAULT_METHOD
    core = open_core(load_model=False)
    try:
        rank = args.rank
        if rank is None and method != "cat":
            rank = preference_rank(core)
        options = make_options(
            method,
            weights=args.weights,
            density=args.density,
            drop=args.drop,
            variant=args.variant,
            rank=rank,
            seed=args.seed,
        )

        def progress(done: int, total: int) -> None:
            if not args.json and (done == total or done % 20 == 0):
                print(f"merged {done}/{total} tensors", file=sys.stderr, flush=True)

        outcome = merge_versions(
            core.adapters,
            args.ids,
            method,
            options,
            evaluate=not args.no_eval,
            activate=args.activate,
            progress=progress,
        )
    finally:
        core.close()
    if args.json:
        print_json(outcome.to_dict())
        return 0
    _print_outcome(outcome)
    return 0


def _print_outcome(outcome: Any) -> None:
    report = outcome.report
    print(
        f"adapter {outcome.adapter_id} ({outcome.name}): {report['method']}, rank {report['rank']}"
    )
    print(
        f"  energy kept by the rank cut: min {report['energy_kept_min']:.1%}, "
        f"mean {report['energy_kept_mean']:.1%}; "
        f"sign conflicts {report['sign_conflict_mean']:.1%}; {report['seconds']:.1f} s"
    )
    for effect in outcome.effects:
        kept, top1 = effect["retained"], effect.get("retained_top1")
        share = "no measurable effect" if kept is None else f"keeps {kept:.0%} of its effect"
        if top1 is not None:
            share += f", {top1:.0%} of the answers' tokens it made first choice"
        print(
            f"  parent {effect['id']}: {share} (held-back NLL base {effect['nll_base']:.3f}, "
            f"alone {effect['nll_parent']:.3f}, merged {effect['nll_merged']:.3f})"
        )
    if outcome.neutral_ppl_ratio is not None:
        print(f"  neutral perplexity x{outcome.neutral_ppl_ratio:.3f}")
    verdict = "passes" if outcome.passed else "does not pass"
    print(f"  {verdict}: {outcome.reason}")
    print("  activated" if outcome.activated else "  not activated")


def _lineage(args: argparse.Namespace) -> int:
    from app.adapters.merge.lineage import lineage

    core = open_core(load_model=False)
    try:
        versions = core.adapters.versions
        roots = lineage(versions.list(), versions.active_id())
    finally:
        core.close()
    if args.json:
        print_json({"lineage": [r.to_dict() for r in roots]})
        return 0
    for root in roots:
        print("\n".join(root.lines()))
    if not roots:
        print("no adapters yet")
    return 0
