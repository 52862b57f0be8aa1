"""Every change to the memories table: add (with near-duplicate merge and contradiction
replacement), bulk add for imports, edit, pin, forget. Each write tells the dense index."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from itertools import islice

import numpy as np

from app.errors import HearthError
from app.memory import dialog
from app.memory.dense import DenseStore
from app.memory.embedder import Embedder, from_blob, to_blob
from app.memory.records import KINDS, NewMemory, insert_params, insert_sql
from app.store import Store

NEAR_DUPLICATE = 0.92  # cosine at which a new memory restates an existing one


@dataclass(frozen=True)
class Change:
    """What a write did: "added", "merged" (into an existing memory), "replaced" (a contradicted
    older one, kept as history), "forgot"."""

    action: str
    memory_id: int
    text: str
    replaced_id: int | None = None


def _generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM state WHERE key = 'memory_generation'").fetchone()
    return int(row[0]) if row else 0


class MemoryWriter:
    def __init__(self, store: Store, embedder: Embedder, dense: DenseStore) -> None:
        self.store = store
        self.embedder = embedder
        self.dense = dense

    def add(self, new: NewMemory, *, dedupe: bool = True) -> Change:
        text = " ".join(new.text.split())
        if not text:
            raise HearthError("a memory needs some text")
        if new.kind not in KINDS:
            raise HearthError(f"unknown kind {new.kind!r}: use one of {', '.join(KINDS)}")
        vec = self.embedder.embed([text])[0]
        index = self.dense.index()
        near_id, near_score = None, 0.0
        if dedupe and len(index):
            ids, scores = index.search(vec, 1)
            if len(ids):
                near_id, near_score = int(ids[0]), float(scores[0])
        with self.store.transaction() as conn:
            before = _generation(conn)
            if near_id is not None and near_score >= NEAR_DUPLICATE:
                old = conn.execute("SELECT text FROM memories WHERE id = ?", (near_id,)).fetchone()
                if old is not None:
                    if old["text"] != text:
                        conn.execute(
                            "INSERT INTO memory_history (memory_id, text, reason) VALUES (?, ?, ?)",
                            (near_id, old["text"], "merged"),
                        )
                    conn.execute(
                        "UPDATE memories SET text = ?, embedding = ?, "
                        "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                        "pinned = max(pinned, ?) WHERE id = ?",
                        (text, to_blob(vec), int(new.pinned), near_id),
                    )
                    after = _generation(conn)
                    change = Change("merged", near_id, text)
                    added = {near_id: vec}
                    self._after(before, after, added, [])
                    return change
            new_id = int(
                conn.execute(insert_sql(), insert_params(_with(new, text), to_blob(vec))).lastrowid
                or 0
            )
            replaced = None
            if dedupe and new.subject:
                row = conn.execute(
                    "SELECT id, text FROM memories WHERE subject = ? AND id != ? "
                    "AND superseded_by IS NULL ORDER BY id DESC LIMIT 1",
                    (new.subject, new_id),
                ).fetchone()
                if row is not None:
                    replaced = int(row["id"])
                    conn.execute(
                        "UPDATE memories SET superseded_by = ? WHERE id = ?", (new_id, replaced)
                    )
                    conn.execute(
                        "INSERT INTO memory_history (memory_id, text, reason) VALUES (?, ?, ?)",
                        (new_id, row["text"], f"replaced memory {replaced}"),
                    )
            after = _generation(conn)
        self._after(before, after, {new_id: vec}, [replaced] if replaced else [])
        return Change("replaced" if replaced else "added", new_id, text, replaced)

    def add_many(
        self,
        items: Iterable[NewMemory],
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 256,
        check: Callable[[], None] | None = None,
        total: int | None = None,
        ids: list[int] | None = None,
    ) -> list[int]:
        """Bulk insert without de-duplication (imports keep every record), embedded and
        committed `chunk` at a time as `items` are read. The ids go into `ids` as each chunk
        commits, so a caller still has them when a later chunk fails."""
        ids = [] if ids is None else ids
        if total is None and isinstance(items, Sized):
            total = len(items)
        stream, done = iter(items), 0
        carried: dict[tuple[str, int], str] = {}  # the chunk before: a turn's question
        while part := [_with(m, " ".join(m.text.split())) for m in islice(stream, chunk)]:
            if check is not None:
                check()
            previous, carried = _previous_turns(part, carried)
            vecs = self.embed_with_context([m.text for m in part], previous)
            added: dict[int, np.ndarray] = {}
            with self.store.transaction() as conn:
                before = _generation(conn)
                for m, v in zip(part, vecs, strict=True):
                    cur = conn.execute(insert_sql(), insert_params(m, to_blob(v)))
                    added[int(cur.lastrowid or 0)] = v
                after = _generation(conn)
            self._after(before, after, added, [])
            ids += list(added)
            done += len(part)
            if progress is not None:
                progress(done, max(total or 0, done))
        return ids

    def embed_with_context(self, texts: list[str], previous: list[str | None]) -> np.ndarray:
        """Unit vectors of each text, averaged with the vector of the text read after the turn
        it follows: an answer ("we went with Biscuit") is found by its question's words."""
        own = self.embedder.embed(texts)
        with_prev = [i for i, p in enumerate(previous) if p]
        if with_prev:
            ctx = self.embedder.embed(
                [dialog.context_text(previous[i], texts[i]) for i in with_prev]
            )
            mixed = own[with_prev] + ctx
            own[with_prev] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        return own

    def update(
        self,
        memory_id: int,
        *,
        text: str | None = None,
        kind: str | None = None,
        pinned: bool | None = None,
    ) -> None:
        if kind is not None and kind not in KINDS:
            raise HearthError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        vec = self.embedder.embed([" ".join(text.split())])[0] if text is not None else None
        with self.store.transaction() as conn:
            before = _generation(conn)
            row = conn.execute("SELECT text FROM memories WHERE id = ?", (memory_id,)).fetchone()
            if row is None:
                raise HearthError(f"there is no memory {memory_id}")
            if text is not None and vec is not None:
                clean = " ".join(text.split())
                if not clean:
                    raise HearthError("a memory needs some text")
                if clean != row["text"]:
                    conn.execute(
                        "INSERT INTO memory_history (memory_id, text, reason) VALUES (?, ?, ?)",
                        (memory_id, row["text"], "edited"),
                    )
                    conn.execute(
                        "UPDATE memories SET text = ?, embedding = ? WHERE id = ?",
                        (clean, to_blob(vec), memory_id),
                    )
            if kind is not None:
                conn.execute("UPDATE memories SET kind = ? WHERE id = ?", (kind, memory_id))
            if pinned is not None:
                conn.execute(
                    "UPDATE memories SET pinned = ? WHERE id = ?", (int(pinned), memory_id)
                )
            conn.execute(
                "UPDATE memories SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                "WHERE id = ?",
                (memory_id,),
            )
            after = _generation(conn)
        self._after(before, after, {memory_id: vec} if vec is not None else {}, [])

    def forget(self, memory_ids: list[int]) -> int:
        """Delete memories, their history and what they replaced, leaving no copy on disk."""
        with self.store.transaction() as conn:
            before = _generation(conn)
            conn.execute("PRAGMA secure_delete=ON")
            gone: list[int] = []
            for mid in memory_ids:
                # The versions it replaced hold the same fact: they go too.
                chain = [
                    int(r[0])
                    for r in conn.execute(
                        "WITH RECURSIVE old(id) AS (SELECT ? UNION "
                        "SELECT m.id FROM memories m JOIN old ON m.superseded_by = old.id) "
                        "SELECT id FROM old",
                        (mid,),
                    )
                ]
                for cid in reversed(chain):
                    if conn.execute("DELETE FROM memories WHERE id = ?", (cid,)).rowcount:
                        gone.append(cid)
            if gone:
                conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
            after = _generation(conn)
        self._after(before, after, {}, gone)
        if gone:
            self.scrub()
        return len([g for g in gone if g in memory_ids])

    def restore(self, newer_id: int, older_id: int) -> None:
        """Drop `newer_id` and make the memory it replaced current again."""
        with self.store.transaction() as conn:
            before = _generation(conn)
            conn.execute("UPDATE memories SET superseded_by = NULL WHERE id = ?", (older_id,))
            conn.execute("DELETE FROM memories WHERE id = ?", (newer_id,))
            row = conn.execute(
                "SELECT embedding FROM memories WHERE id = ?", (older_id,)
            ).fetchone()
            after = _generation(conn)
        added = {older_id: from_blob(row[0]).copy()} if row is not None and row[0] else {}
        self._after(before, after, added, [newer_id])

    def forget_all(self) -> int:
        ids = [int(r[0]) for r in self.store.query("SELECT id FROM memories")]
        with self.store.transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("DELETE FROM memory_history")
            conn.execute("DELETE FROM memories")
            conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
        self.dense.drop()
        self.scrub()
        return len(ids)

    def scrub(self) -> None:
        """Rewrite the derived index and fold the write-ahead log back, so deleted text and
        vectors do not linger in files on disk."""
        self.dense.flush()
        conn = sqlite3.connect(self.store.path, timeout=30)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    def _after(
        self, before: int, after: int, added: dict[int, np.ndarray], removed: list[int]
    ) -> None:
        self.dense.applied(before, after, added, removed)


def _previous_turns(
    items: list[NewMemory], carried: dict[tuple[str, int], str]
) -> tuple[list[str | None], dict[tuple[str, int], str]]:
    """For each item of an ordered import, the text of the item before it in the same batch
    (looked up in `items` and in the chunk before them); and this chunk's texts, to carry."""
    own = {(m.batch, m.seq): m.text for m in items if m.batch and m.seq is not None}
    at = {**carried, **own}
    previous = [
        at.get((m.batch, m.seq - 1)) if m.batch and m.seq is not None else None for m in items
    ]
    return previous, own


def _with(new: NewMemory, text: str) -> NewMemory:
    from dataclasses import replace

    return replace(new, text=text, source_ids=[str(s) for s in new.source_ids])


def source_ids_json(ids: list[str]) -> str:
    return json.dumps(ids)
