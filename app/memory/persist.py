"""Saving and loading the derived dense index under `paths.index_dir()`.

The folder holds the arrays and a `meta.json` fingerprint (the database's memory generation,
the embedding model, the count). A missing, partial or stale folder is simply rebuilt from SQLite.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.atomic import write_bytes, write_text
from app.memory.index import DenseIndex, IndexOptions

FORMAT = 2  # 2: the short codes and their basis are saved too
_ARRAYS = ("ids", "vecs", "offsets", "centroids", "basis", "codes")


def _save_array(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_bytes(path, buf.getvalue())


def save(index: DenseIndex, folder: Path, fingerprint: dict[str, Any]) -> None:
    """Write the index; `meta.json` goes last so a crash leaves a folder that reads as stale."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "meta.json"
    if meta.exists():
        meta.unlink()
    with index._lock:
        if index._tail_ids or index._removed:
            index.compact()  # not after a fresh build: at 1M that would cluster twice
        _save_array(folder / "ids.npy", index._ids)
        _save_array(folder / "vecs.npy", index._vecs)
        _save_array(folder / "offsets.npy", index._offsets)
        centroids = index._centroids
        _save_array(
            folder / "centroids.npy",
            centroids if centroids is not None else np.zeros((0, index.dim), np.float32),
        )
        empty = np.zeros((0, 0), np.float32)
        basis, codes = index._basis, index._codes
        _save_array(folder / "basis.npy", basis if basis is not None else empty)
        _save_array(folder / "codes.npy", codes if codes is not None else empty)
    write_text(meta, json.dumps({"format": FORMAT, "dim": index.dim, **fingerprint}))


def load(
    folder: Path, fingerprint: dict[str, Any], options: IndexOptions | None = None
) -> DenseIndex | None:
    """The saved index when its fingerprint matches, else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    expected = {"format": FORMAT, **fingerprint}
    if any(meta.get(key) != value for key, value in expected.items()):
        return None
    try:
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
    except (OSError, ValueError):
        return None
    dim = int(meta["dim"])
    ids, vecs = arrays["ids"], arrays["vecs"]
    if vecs.shape != (len(ids), dim):
        return None
    basis, codes = arrays["basis"], arrays["codes"]
    coded = len(codes) > 0
    if coded and (basis.shape[0] != dim or codes.shape != (len(ids), basis.shape[1])):
        return None
    index = DenseIndex(dim, options)
    centroids = arrays["centroids"] if len(arrays["centroids"]) else None
    index._install(
        ids.astype(np.int64),
        vecs.astype(np.float32),
        centroids,
        arrays["offsets"],
        basis.astype(np.float32) if coded else None,
        codes.astype(np.float32) if coded else None,
    )
    return index


def clear(folder: Path) -> None:
    for name in (*_ARRAYS, "meta"):
        for path in folder.glob(f"{name}.*"):
            path.unlink(missing_ok=True)
