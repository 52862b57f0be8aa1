"""Keeps the dense index in step with SQLite: loads the saved copy when its fingerprint matches,
rebuilds from the `embedding` column when it does not, and follows this process's own writes."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np

from app.memory import persist
from app.memory.dialog import split_speaker
from app.memory.embedder import DIM, MODEL_NAME
from app.memory.index import DenseIndex, IndexOptions
from app.store import Store

log = logging.getLogger(__name__)

ACTIVE = "superseded_by IS NULL AND embedding IS NOT NULL"
SMALL_INDEX = 20_000  # memories an index holds that it loads or builds in well under a second


def generation(store: Store) -> int:
    value = store.scalar("SELECT value FROM state WHERE key = 'memory_generation'")
    return int(value or 0)


class DenseStore:
    """The index for one database. Thread-safe; `index()` is cheap when nothing changed."""

    def __init__(self, store: Store, folder: Path, options: IndexOptions | None = None) -> None:
        self.store = store
        self.folder = folder
        self.options = options or IndexOptions()
        self._index: DenseIndex | None = None
        self._lock = threading.RLock()
        self._dirty = False
        self._speakers: tuple[int, set[str]] = (-1, set())
        self._loading: Future[DenseIndex] | None = None
        self._lock_loading = threading.Lock()

    def speakers(self) -> set[str]:
        """Names that start imported dialog turns ("Caroline: ..."), cached per generation."""
        gen = generation(self.store)
        with self._lock:
            if self._speakers[0] != gen:
                rows = self.store.query(
                    "SELECT DISTINCT substr(text, 1, instr(text, ':') - 1) FROM memories "
                    "WHERE batch IS NOT NULL AND instr(text, ':') BETWEEN 2 AND 40"
                )
                names = {split_speaker(f"{r[0]}: x")[0] for r in rows if r[0]}
                self._speakers = (gen, {n for n in names if n})
            return self._speakers[1]

    def _fingerprint(self, gen: int) -> dict[str, object]:
        # The database too: another database can reach the same generation.
        return {"generation": gen, "model": MODEL_NAME, "database": str(self.store.path.resolve())}

    def index(self) -> DenseIndex:
        """The current index, reloaded or rebuilt when SQLite moved on without us."""
        gen = generation(self.store)
        with self._lock:
            if self._index is not None and self._index.generation == gen:
                return self._index
            index = persist.load(self.folder, self._fingerprint(gen), self.options)
            if index is None:
                index = self.rebuild(gen)
            index.generation = gen
            self._index = index
            return index

    def index_within(self, seconds: float) -> DenseIndex | None:
        """The current index if it is ready within `seconds`; else None while it loads or
        rebuilds in the background (a large collection's rebuild takes minutes)."""
        current = self._index
        if current is not None and current.generation == generation(self.store):
            return current
        if self._small():
            return self.index()  # built in moments: the wait is worth its meaning-based recall
        with self._lock_loading:
            if self._loading is None or self._loading.done():
                future: Future[DenseIndex] = Future()

                def run() -> None:
                    try:
                        future.set_result(self.index())
                    except BaseException as exc:  # handed to whoever waits on it
                        future.set_exception(exc)

                self._loading = future
                threading.Thread(target=run, name="memory-index", daemon=True).start()
            loading = self._loading
        try:
            return loading.result(timeout=seconds)
        except FutureTimeout:
            return None

    def _small(self) -> bool:
        rows = self.store.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM memories LIMIT ?)", (SMALL_INDEX + 1,)
        )
        return int(rows or 0) <= SMALL_INDEX

    def rebuild(self, gen: int | None = None) -> DenseIndex:
        """Build from SQLite, save it, and use it."""
        with self._lock:
            gen = generation(self.store) if gen is None else gen
            ids, vecs = load_vectors(self.store)
            index = DenseIndex(DIM, self.options)
            index.build(ids, vecs)
            index.generation = gen
            self._index = index
            self._save(index)
            return index

    def _save(self, index: DenseIndex) -> None:
        try:
            persist.save(index, self.folder, self._fingerprint(index.generation))
            self._dirty = False
        except OSError as exc:  # a derived cache: failing to save costs a rebuild, not data
            log.warning("could not save the memory index: %s", exc)

    def applied(
        self, before: int, after: int, added: dict[int, np.ndarray], removed: list[int]
    ) -> None:
        """Follow a write made by this process between generations `before` and `after`."""
        with self._lock:
            index = self._index
            if index is None or index.generation != before:
                # Not following this database's changes: the saved copy is stale from now on, and
                # may hold the vector of something just forgotten, so it goes.
                self._index = None
                persist.clear(self.folder)
                return
            if removed:
                index.remove(removed)
            if added:
                index.add(list(added), np.stack(list(added.values())))
            index.generation = after
            self._dirty = True

    def flush(self) -> None:
        """Save the index if this process changed it since the last save."""
        with self._lock:
            if self._dirty and self._index is not None:
                self._save(self._index)

    def drop(self) -> None:
        with self._lock:
            self._index = None
            persist.clear(self.folder)


def load_vectors(store: Store, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Every active memory's id and embedding, read in chunks to bound peak memory."""
    count = int(store.scalar(f"SELECT count(*) FROM memories WHERE {ACTIVE}") or 0)
    ids = np.zeros(count, dtype=np.int64)
    vecs = np.zeros((count, DIM), dtype=np.float32)
    filled, last = 0, -1
    while filled < count:
        rows = store.query(
            f"SELECT id, embedding FROM memories WHERE {ACTIVE} AND id > ? ORDER BY id LIMIT ?",
            (last, chunk),
        )
        if not rows:
            break
        for row in rows:
            if filled >= count:
                break
            blob = row["embedding"]
            if len(blob) != DIM * 4:
                continue
            ids[filled] = row["id"]
            vecs[filled] = np.frombuffer(blob, dtype="<f4")
            filled += 1
        last = int(rows[-1]["id"])
    return ids[:filled], vecs[:filled]
