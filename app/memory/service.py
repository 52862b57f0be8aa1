"""MemoryService: the one object the assistant, the CLI and the window use for memory.

It implements the assistant's hook (`recall`, `prompt_block`, `observe`) and the user's
operations (add, list, search, edit, pin, forget, import). Building it is cheap: the embedder and
the index load on first use (or in the background after `warm()`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from app import paths
from app.cancel import CancelToken
from app.errors import HearthError
from app.memory import dialog, importer, learn, profile
from app.memory.dense import DenseStore
from app.memory.embedder import Embedder, from_blob
from app.memory.extract import REGISTRY, Candidate, Extractor
from app.memory.extract_model import ModelExtractor
from app.memory.importer import ImportSummary
from app.memory.prompt import format_block
from app.memory.records import COLUMNS, Memory, NewMemory, RecalledMemory, SearchHit, from_row
from app.memory.search import SearchOptions, fetch, fts_search, hybrid_search
from app.memory.writes import Change, MemoryWriter
from app.store import Store

log = logging.getLogger(__name__)

RECALL_MIN_COSINE = 0.35  # below this a memory is not about the question
RECALL_CANDIDATES = 6  # searched for each question
RECALL_MAX = 3  # put in the prompt at most: a small model answers from the first that fits
RECALL_MARGIN = 0.15  # and only those this close to the best match's cosine
RECALL_TEXT_ONLY = 2  # while the embedder loads, full text alone is less sure: fewer
RECALL_INDEX_WAIT = 0.25  # seconds a reply waits for the dense index before full text alone


def relevant(hits: list[SearchHit], cosines: dict[int, float]) -> list[SearchHit]:
    """The hits about the question, closest first: above the floor, near the best one."""
    scored = sorted(
        (h for h in hits if cosines.get(h.id, 0.0) >= RECALL_MIN_COSINE),
        key=lambda h: -cosines.get(h.id, 0.0),
    )
    if not scored:
        return []
    best = cosines[scored[0].id]
    return [h for h in scored if cosines[h.id] >= best - RECALL_MARGIN][:RECALL_MAX]


class MemoryService:
    def __init__(
        self,
        store: Store,
        engine: Any = None,
        embedder: Embedder | None = None,
        *,
        use_model: bool = True,
        budget_tokens: int = 256,
    ) -> None:
        self.store = store
        self.engine = engine
        self.embedder = embedder or Embedder()
        self.dense = DenseStore(store, paths.index_dir() / "memories")
        self.writer = MemoryWriter(store, self.embedder, self.dense)
        self.budget_tokens = budget_tokens
        self.extractors: list[Extractor] = [REGISTRY["explicit"](), REGISTRY["rules"]()]
        if use_model:
            self.extractors.append(ModelExtractor(engine))
        self._listeners: list[Callable[[list[Change]], None]] = []
        self._observe_lock = threading.Lock()
        self._cache_lock = threading.Lock()  # guards the small query-vector cache
        self._recent: dict[str, np.ndarray] = {}
        self._df_cache: tuple[int, dict[str, int]] = (-1, {})  # word counts, per generation

    def warm(self) -> None:
        """Load the embedder and the index in the background."""

        def run() -> None:
            try:
                self.embedder.load_async().result()
                self.dense.index()
            except Exception:
                log.exception("memory warm-up failed")

        threading.Thread(target=run, name="memory-warm", daemon=True).start()

    # -- what the user sees and does ------------------------------------------------------------
    def add(self, text: str, kind: str = "fact", *, pinned: bool = False, **source: Any) -> Change:
        return self.writer.add(NewMemory(text=text, kind=kind, pinned=pinned, **source))

    def add_many(self, items: Iterable[NewMemory], **kwargs: Any) -> list[int]:
        return self.writer.add_many(items, **kwargs)

    def import_notes(
        self,
        paths: list[Path],
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportSummary:
        """The user's own notes (.txt/.md files, folders) as memories, chunked."""
        summary = ImportSummary()
        items = importer.notes_to_memories(importer.note_files(paths), summary)
        return importer.run_import(self, items, summary, progress, cancel)

    def get(self, memory_id: int) -> Memory | None:
        row = self.store.query_one(f"SELECT {COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        return from_row(row) if row is not None else None

    def memories(
        self,
        kind: str | None = None,
        *,
        include_replaced: bool = False,
        limit: int = -1,
        offset: int = 0,
    ) -> list[Memory]:
        where, params = ["1"], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if not include_replaced:
            where.append("superseded_by IS NULL")
        rows = self.store.query(
            f"SELECT {COLUMNS} FROM memories WHERE {' AND '.join(where)} "
            "ORDER BY pinned DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [from_row(r) for r in rows]

    def count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM memories WHERE superseded_by IS NULL"))

    def history(self, memory_id: int) -> list[dict[str, str]]:
        rows = self.store.query(
            "SELECT text, reason, changed_at FROM memory_history WHERE memory_id = ? ORDER BY id",
            (memory_id,),
        )
        return [dict(r) for r in rows]

    def summary(self) -> str:
        """One line of what Hearth knows about the user (their own correction wins)."""
        return profile.summary(self.memories())

    def correct_summary(self, text: str) -> Change:
        """Keep the user's own line about themselves, pinned; it replaces an earlier one."""
        line = " ".join(text.split())
        if not line:
            raise HearthError("the summary needs some text")
        new = NewMemory(
            text=profile.SUMMARY_PREFIX + line,
            kind="note",
            subject=profile.SUMMARY_SUBJECT,
            pinned=True,
        )
        return self.writer.add(new)

    def source_text(self, mem: Memory) -> str | None:
        """The words of the message a memory came from, while that message exists."""
        if mem.source_message_id is None:
            return None
        row = self.store.query_one(
            "SELECT content FROM messages WHERE id = ?", (mem.source_message_id,)
        )
        return str(row["content"]) if row is not None else None

    def update(self, memory_id: int, **changes: Any) -> None:
        self.writer.update(memory_id, **changes)

    def pin(self, memory_id: int, pinned: bool = True) -> None:
        self.writer.update(memory_id, pinned=pinned)

    def forget(self, memory_id: int) -> bool:
        return self.writer.forget([memory_id]) > 0

    def forget_many(self, memory_ids: list[int]) -> int:
        return self.writer.forget(memory_ids)

    def forget_all(self) -> int:
        return self.writer.forget_all()

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        kind: str | None = None,
        options: SearchOptions | None = None,
    ) -> list[SearchHit]:
        opts = options or SearchOptions()
        opts = SearchOptions(**{**opts.__dict__, "k": k, "kind": kind or opts.kind})
        if not query.strip():
            return []
        names = dialog.mentioned(query, self.dense.speakers())
        # (Running full text on a second thread during the embedding was measured: no faster on
        # two busy cores.)
        vec = self._query_vector(dialog.strip_names(query, names))
        index = self.dense.index()
        with self._cache_lock:
            if self._df_cache[0] != index.generation:
                self._df_cache = (index.generation, {})
            df_cache = self._df_cache[1]
        return hybrid_search(self.store, index, vec, query, opts, names, df_cache=df_cache)

    def _query_vector(self, text: str) -> np.ndarray:
        """The question's vector; the last few are kept, as recall asks for one twice."""
        with self._cache_lock:
            vec = self._recent.get(text)
        if vec is None:
            vec = self.embedder.embed([text])[0]
            with self._cache_lock:
                self._recent[text] = vec
                while len(self._recent) > 32:
                    self._recent.pop(next(iter(self._recent)))
        return vec

    def rebuild_index(self) -> None:
        self.dense.rebuild()

    def flush_index(self) -> None:
        """Save the derived index now if this process changed it."""
        self.dense.flush()

    # -- the assistant's hook -------------------------------------------------------------------
    def recall(self, query: str, conversation_id: int | None = None) -> list[RecalledMemory]:
        """Memories about the question, best first, within the token budget."""
        if not self.store.scalar("SELECT 1 FROM memories WHERE superseded_by IS NULL LIMIT 1"):
            return []  # nothing to recall: never wait for the embedder to say so
        if not self.embedder.loaded:
            # The first reply never waits for the embedder: full text alone until it is ready.
            self.embedder.load_async()
            return self._remember(self._text_only(query))
        if self.dense.index_within(RECALL_INDEX_WAIT) is None:
            # Nor for the dense index: loading a large one, or rebuilding it, takes a while.
            return self._remember(self._text_only(query))
        hits = self.search(query, k=RECALL_CANDIDATES, options=SearchOptions(window=0))
        if not hits:
            return []
        cos = self._cosines(self._query_vector(query), [h.id for h in hits])
        return self._remember(relevant(hits, cos))

    def _text_only(self, query: str) -> list[SearchHit]:
        """Recall by full text: the best few memories sharing the question's rarer words."""
        ids = fts_search(self.store, query, RECALL_CANDIDATES)
        records = fetch(self.store, ids)
        hits = [
            SearchHit(id=i, text=records[i].text, score=1.0 / (rank + 1))
            for rank, i in enumerate(ids)
            if i in records and records[i].superseded_by is None
        ]
        return hits[:RECALL_TEXT_ONLY]

    def _remember(self, hits: list[SearchHit]) -> list[RecalledMemory]:
        """The chosen hits as recalled memories within the token budget; counts their use."""
        records = fetch(self.store, [h.id for h in hits])
        chosen: list[RecalledMemory] = []
        used = 0
        for hit in hits:
            mem = records.get(hit.id)
            if mem is None:
                continue
            cost = len(mem.text) // 4 + 8
            if used + cost > self.budget_tokens:
                break
            used += cost
            chosen.append(
                RecalledMemory(
                    id=mem.id,
                    text=mem.text,
                    kind=mem.kind,
                    source=mem.source,
                    score=round(float(hit.score), 6),
                    created_at=mem.created_at,
                    source_message_id=mem.source_message_id,
                    conversation_id=mem.conversation_id,
                )
            )
        if chosen:
            marks = ",".join("?" * len(chosen))
            self.store.execute(
                "UPDATE memories SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                f"use_count = use_count + 1 WHERE id IN ({marks})",
                [m.id for m in chosen],
            )
        return chosen

    def prompt_block(self, recalled: list[Any]) -> str:
        return format_block(recalled)

    def observe(
        self, conversation_id: int, user_message_id: int, user_text: str, assistant_text: str
    ) -> list[Change]:
        """Remember what the user said about themselves; act on "remember"/"forget"."""
        with self._observe_lock:
            candidates = learn.candidates(self.extractors, user_text, assistant_text)
            changes: list[Change] = []
            for cand in candidates:
                try:
                    changes += self._apply(cand, conversation_id, user_message_id)
                except Exception:
                    log.exception("could not store an extracted memory")
        if changes:
            for listener in list(self._listeners):
                listener(changes)
        return changes

    def add_listener(self, callback: Callable[[list[Change]], None]) -> None:
        """`callback(changes)` after `observe` stored something (the window's notice)."""
        self._listeners.append(callback)

    def undo(self, change: Change) -> None:
        """Undo what `observe` did: an added memory is forgotten, a replaced one restored, a
        merged one gets its previous wording back."""
        if change.action == "added":
            self.writer.forget([change.memory_id])
        elif change.action == "replaced" and change.replaced_id is not None:
            self.writer.restore(change.memory_id, change.replaced_id)
        elif change.action == "merged":
            past = self.history(change.memory_id)
            merged = [h for h in past if h["reason"] == "merged"]
            if merged:
                self.writer.update(change.memory_id, text=merged[-1]["text"])

    def close(self) -> None:
        self.dense.flush()
        self.embedder.close()

    # -- internals ------------------------------------------------------------------------------
    def _apply(self, cand: Candidate, conversation_id: int, message_id: int) -> list[Change]:
        if cand.action == "forget":
            return learn.forget_matching(self, cand.text)
        new = NewMemory(
            text=cand.text,
            kind=cand.kind,
            subject=cand.subject,
            source_type="message",
            source_message_id=message_id,
            conversation_id=conversation_id,
        )
        return [self.writer.add(new)]

    def cosines(self, vec: np.ndarray, ids: list[int]) -> dict[int, float]:
        """Cosine of `vec` with each memory's stored vector."""
        return self._cosines(vec, ids)

    def _cosines(self, vec: np.ndarray, ids: list[int]) -> dict[int, float]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.store.query(f"SELECT id, embedding FROM memories WHERE id IN ({marks})", ids)
        return {
            int(r["id"]): float(from_blob(r["embedding"]) @ vec) for r in rows if r["embedding"]
        }
