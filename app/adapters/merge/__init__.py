"""Merge methods for LoRA adapters (one file each, found through a registry) and the runner.

`merge_adapters([a, b], "ties", TiesOptions(density=0.2, rank=16))` returns the merged adapter
(write it with `lora_file.write_lora`) and its report.
"""

from __future__ import annotations

import importlib

from app.adapters.merge.base import (
    MergeMethod,
    MergeOptions,
    MergeReport,
    TensorReport,
    get_method,
    method_names,
)

_METHOD_MODULES = ("cat", "linear", "ties", "dare")


def _load_all() -> None:
    for module in _METHOD_MODULES:
        importlib.import_module(f"app.adapters.merge.{module}")


from app.adapters.merge.runner import MergeResult, make_options, merge_adapters  # noqa: E402

__all__ = [
    "MergeMethod",
    "MergeOptions",
    "MergeReport",
    "MergeResult",
    "TensorReport",
    "get_method",
    "make_options",
    "merge_adapters",
    "method_names",
]
