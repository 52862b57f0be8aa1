"""Hybrid recall: dense vectors and FTS5 full text fused by reciprocal rank, then what helps
conversational memory: pins, recency, neighbouring turns of an imported dialog, de-duplication."""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from app.memory.dialog import split_speaker
from app.memory.index import DenseIndex
from app.memory.records import COLUMNS, Memory, SearchHit, from_row
from app.store import Store

_WORD = re.compile(r"[\w']+", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves ever did does
    anything something tell know remember recall please s t don't i'm it's what's""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class SearchOptions:
    k: int = 10
    dense_k: int = 50
    fts_k: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    fts_weight: float = 0.5
    pin_bonus: float = 0.004
    recency_weight: float = 0.001
    recency_days: float = 180.0
    speaker_bonus: float = 0.35  # cosine added to turns by a speaker the question names
    speaker_fused: float = 1.6  # and their fused score is multiplied by this
    neighbour_weight: float = 0.3  # share of a neighbour's score a dialog turn inherits
    date_weight: float = 1.0  # a memory from the day the question names ranks as if found first
    window: int = 1  # neighbouring turns returned with an imported dialog turn
    kind: str | None = None
    hybrid: bool = True


def content_words(text: str) -> list[str]:
    seen: list[str] = []
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if len(word) > 1 and word not in STOPWORDS and word not in seen:
            seen.append(word)
    return seen


MAX_DF = 1000  # a word in more memories than this says little and costs much to rank

_MONTH_NAMES = [
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december"),
]
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH}) (?P<d1>{_DAY})|(?P<d2>{_DAY}) (?:of )?(?P<m2>{_MONTH}))"
    r"(?:,? (?P<y>(?:19|20)\d\d))?\b",
    re.I,
)


def days_named(text: str) -> list[str]:
    """The days a question names ("on November 8", "the 3rd of May 2024") as "MM-DD" or
    "YYYY-MM-DD"."""
    days = []
    for m in _DATE.finditer(text):
        word = (m.group("m1") or m.group("m2")).lower().rstrip(".")
        word = "sep" if word == "sept" else word
        # A month name or its start ("nov", "novem"), not "market" or "marry".
        month = next((i for i, n in enumerate(_MONTH_NAMES, 1) if n.startswith(word)), 0)
        if not month:
            continue
        day = int(re.sub(r"\D", "", m.group("d1") or m.group("d2")))
        md = f"{month:02d}-{day:02d}"
        days.append(f"{m.group('y')}-{md}" if m.group("y") else md)
    return days


def dated_ids(store: Store, days: list[str], limit: int = 200) -> list[int]:
    """Memories written on the named days."""
    ids: list[int] = []
    for day in days[:3]:
        if len(day) == 10:
            rows = store.query(
                "SELECT id FROM memories WHERE created_at >= ? AND created_at < ? "
                "AND superseded_by IS NULL LIMIT ?",
                (day, day + "~", limit),
            )
        else:
            rows = store.query(
                "SELECT id FROM memories WHERE substr(created_at, 6, 5) = ? "
                "AND superseded_by IS NULL LIMIT ?",
                (day, limit),
            )
        ids += [int(r[0]) for r in rows]
    return ids


def fts_search(
    store: Store,
    text: str,
    limit: int,
    skip: set[str] | None = None,
    df_cache: dict[str, int] | None = None,
) -> list[int]:
    """Memory ids by BM25 over the question's content words; words common enough to match
    thousands of memories are left out, which keeps ranking cheap on large collections.
    `df_cache` keeps each word's (capped) document count between calls."""
    cache = {} if df_cache is None else df_cache
    for name in skip or ():
        text = re.sub(rf"\b{re.escape(name)}('s)?\b", " ", text)
    words = []
    try:
        for word in content_words(text)[:16]:
            quoted = '"' + word.replace('"', "") + '"'
            df = cache.get(word)
            if df is None:
                df = cache[word] = int(
                    store.scalar(
                        "SELECT count(*) FROM (SELECT 1 FROM memories_fts "
                        "WHERE memories_fts MATCH ? LIMIT ?)",
                        (quoted, MAX_DF + 1),
                    )
                    or 0
                )
            if 0 < df <= MAX_DF:
                words.append(quoted)
        if not words:
            return []
        rows = store.query(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?",
            (" OR ".join(words), limit),
        )
    except sqlite3.OperationalError:
        return []
    return [int(r[0]) for r in rows]


def _age_days(created_at: str, now: datetime) -> float:
    try:
        when = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return 3650.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds() / 86400)


def fetch(store: Store, ids: list[int]) -> dict[int, Memory]:
    out: dict[int, Memory] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for row in store.query(f"SELECT {COLUMNS} FROM memories WHERE id IN ({marks})", part):
            out[int(row["id"])] = from_row(row)
    return out


def _neighbours(store: Store, batch: str, seq: int, window: int) -> list[Memory]:
    rows = store.query(
        f"SELECT {COLUMNS} FROM memories WHERE batch = ? AND seq BETWEEN ? AND ? "
        "AND superseded_by IS NULL ORDER BY seq",
        (batch, seq - window, seq + window),
    )
    return [from_row(r) for r in rows]


def hybrid_search(
    store: Store,
    index: DenseIndex,
    query_vec: np.ndarray,
    text: str,
    opts: SearchOptions,
    speakers: set[str] | None = None,
    fts_ids: list[int] | None = None,
    df_cache: dict[str, int] | None = None,
) -> list[SearchHit]:
    """`speakers`: the dialog speakers the question names; their turns get a bonus.
    `fts_ids`: full-text results when the caller already has them."""
    speakers = speakers or set()
    # A named speaker's turns may sit below other people's similar turns: look further down.
    dense_ids, dense_scores = index.search(query_vec, opts.dense_k * (4 if speakers else 1))
    cosine = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
    if fts_ids is None:
        fts_ids = fts_search(store, text, opts.fts_k, speakers, df_cache) if opts.hybrid else []
    days = days_named(text) if opts.date_weight > 0 else []
    dated = set(dated_ids(store, days)) if days else set()
    records = fetch(store, list(dict.fromkeys([*cosine, *fts_ids, *dated])))
    records = {
        i: m
        for i, m in records.items()
        if m.superseded_by is None and (opts.kind is None or m.kind == opts.kind)
    }
    if not records:
        return []
    named = {i for i, m in records.items() if speakers and split_speaker(m.text)[0] in speakers}
    adjusted = {
        mid: cos + (opts.speaker_bonus if mid in named else 0.0)
        for mid, cos in cosine.items()
        if mid in records
    }
    fused: dict[int, float] = dict.fromkeys(records, 0.0)
    for rank, mid in enumerate(sorted(adjusted, key=lambda i: -adjusted[i])):
        fused[mid] += opts.dense_weight / (opts.rrf_k + rank + 1)
    for rank, mid in enumerate(i for i in fts_ids if i in records):
        fused[mid] += opts.fts_weight / (opts.rrf_k + rank + 1)
    for mid in dated & set(records):
        fused[mid] += opts.date_weight / (opts.rrf_k + 1)
    now = datetime.now(UTC)
    scores: dict[int, float] = {}
    for mid, mem in records.items():
        score = fused[mid] * (opts.speaker_fused if mid in named else 1.0)
        if mem.pinned:
            score += opts.pin_bonus
        age = _age_days(mem.created_at, now)
        score += opts.recency_weight * math.exp(-age / opts.recency_days)
        scores[mid] = score
    if opts.neighbour_weight > 0:
        # A reply like "yes, last week" is found through the turn it answers.
        by_pos = {(m.batch, m.seq): i for i, m in records.items() if m.batch and m.seq is not None}
        base = dict(scores)
        for (batch, seq), mid in by_pos.items():
            best = max(base.get(by_pos.get((batch, seq + d), -1), 0.0) for d in (-1, 1))
            scores[mid] += opts.neighbour_weight * best
    ranked = sorted(scores, key=lambda i: -scores[i])
    return _assemble(store, ranked, records, scores, cosine, opts)


def _assemble(
    store: Store,
    ranked: list[int],
    records: dict[int, Memory],
    scores: dict[int, float],
    cosine: dict[int, float],
    opts: SearchOptions,
) -> list[SearchHit]:
    """Top hits with their dialog context; overlapping windows and repeated texts merge."""
    hits: list[SearchHit] = []
    covered: dict[tuple[str, int], SearchHit] = {}
    texts: dict[str, SearchHit] = {}
    for mid in ranked:
        if len(hits) >= opts.k:
            break
        mem = records[mid]
        norm = " ".join(mem.text.lower().split())
        if norm in texts:
            same = texts[norm]
            same.source_ids += [s for s in mem.source_ids if s not in same.source_ids]
            continue
        if mem.batch and mem.seq is not None and (mem.batch, mem.seq) in covered:
            continue  # already shown as context of a better hit
        hit = SearchHit(
            id=mid,
            text=mem.text,
            score=scores[mid],
            kind=mem.kind,
            source_ids=list(mem.source_ids),
            dense=cosine.get(mid, 0.0),
            created_at=mem.created_at,
        )
        if mem.batch and mem.seq is not None and opts.window > 0:
            window = _neighbours(store, mem.batch, mem.seq, opts.window)
            for near in window:
                covered[(mem.batch, near.seq or 0)] = hit
                if near.id != mid:
                    hit.context.append(near.text)
            if len(window) > 1:
                # The hit is the passage around the turn: its text and ids cover all of it.
                hit.text = "\n".join(n.text for n in window)
                hit.source_ids = list(dict.fromkeys(s for n in window for s in n.source_ids))
        texts[norm] = hit
        hits.append(hit)
    return hits


def dense_only(opts: SearchOptions) -> SearchOptions:
    return replace(opts, hybrid=False, neighbour_weight=0.0, window=0, pin_bonus=0.0)
