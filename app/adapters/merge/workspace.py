"""Buffers one merge worker reuses from tensor to tensor, and how many workers a merge gets.

A 3B model's merge builds 196 dense deltas of up to 25 M entries. Allocating each afresh cost
more than merging into it: the kernel zero-fills every new page on first touch (measured on
one 8192 x 3072 tensor: 0.14 s to store the merged delta into a new array, 0.02 s into a
reused one). A workspace lives as long as one merge, so nothing stays held after it.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

MAX_THREADS = 4  # tensors merged at once; more only adds dense buffers


class Workspace:
    """Named flat buffers, grown when a larger view is asked for, handed out as views."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(
        self, key: str, shape: tuple[int, ...], dtype: type[np.generic] = np.float32
    ) -> np.ndarray[Any, Any]:
        """A C-contiguous view of `shape` over buffer `key`; its contents are undefined."""
        size = math.prod(shape)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
            buffer = np.empty(size, dtype)
            self._buffers[key] = buffer
        return buffer[:size].reshape(shape)


def merge_threads() -> int:
    """How many tensors to merge at once: every core, up to MAX_THREADS, when the machine is
    idle (1-minute load average below cores - 1), else one.

    A merge is background work on a machine whose cores the chat needs: llama.cpp's threads
    spin-wait, and one core taken from them cut decoding from about 70 to about 4 tokens/s on
    2 cores. `HEARTH_THREADS` overrides, as it does for the model.
    """
    override = os.environ.get("HEARTH_THREADS")
    if override:
        try:
            return max(1, min(MAX_THREADS, int(override)))
        except ValueError:
            pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this system: assume busy
        return 1
    return idle_threads(cores, load)


def idle_threads(cores: int, load: float) -> int:
    """Every core (up to MAX_THREADS) when the load leaves more than one idle, else one."""
    if cores > 1 and load < cores - 1:
        return min(cores, MAX_THREADS)
    return 1
