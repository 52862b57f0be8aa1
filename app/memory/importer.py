"""Imports: JSONL records (one memory per record, keeping its source id and time) and the
user's own notes (.txt/.md files or folders, cut into paragraph-sized chunks)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.cancel import CancelToken
from app.errors import HearthError
from app.memory.records import NewMemory

NOTE_SUFFIXES = (".txt", ".md", ".markdown")
CHUNK_CHARS = 600


@dataclass
class ImportSummary:
    imported: int = 0
    skipped: int = 0
    files: int = 0
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "imported": self.imported,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }
        if self.ids:
            out["first_id"], out["last_id"] = self.ids[0], self.ids[-1]
        if self.files:
            out["files"] = self.files
        if self.problems:
            out["problems"] = self.problems[:20]
        return out


def iso_time(value: object) -> str | None:
    """A record's created_at as UTC ISO-8601 ('...Z'); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        when = when.astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 or 9999 moved past the calendar's end
        return None
    # isoformat, not strftime: strftime writes year 999 as '999', which sorts after '2020'
    return when.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def records_to_memories(
    records: Iterable[tuple[int, dict[str, Any]]], batch: str, summary: ImportSummary
) -> Iterator[NewMemory]:
    """One memory per record with a text, as the records are read: an import of millions of
    lines never holds them all."""
    seq = 0
    for line, record in records:
        if not _has_text(record):
            summary.skipped += 1
            summary.problems.append(f"line {line}: no text")
            continue
        source_id = record.get("id")
        yield NewMemory(
            text=record["text"],
            kind="note",
            source_type="import",
            source_ids=[] if source_id is None else [str(source_id)],
            batch=batch,
            seq=seq,
            created_at=iso_time(record.get("created_at")),
        )
        seq += 1


def count_records(records: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """How many records a file holds, reading all of it first: a bad line anywhere is found
    before anything is written, and the progress has a total."""
    return sum(1 for _line, record in records if _has_text(record))


def _has_text(record: dict[str, Any]) -> bool:
    text = record.get("text")
    return isinstance(text, str) and bool(text.strip())


def note_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in NOTE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise HearthError(f"{path}: no such file or folder")
    return found


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs, merged up to `limit` characters; a long paragraph is cut at sentences."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces: list[str] = []
    for para in paragraphs:
        if len(para) <= limit:
            pieces.append(para)
            continue
        current = ""
        for sentence in re.split(r"(?<=[.!?])\s+", para):
            if current and len(current) + len(sentence) + 1 > limit:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()[: limit * 2]
        if current:
            pieces.append(current)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(piece) + 2 <= limit // 2:
            chunks[-1] = f"{chunks[-1]}\n\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def notes_to_memories(files: list[Path], summary: ImportSummary) -> list[NewMemory]:
    items: list[NewMemory] = []
    for path in files:
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError as exc:
            summary.skipped += 1
            summary.problems.append(f"{path}: {exc.strerror or exc}")
            continue
        summary.files += 1
        for seq, chunk in enumerate(chunk_text(text)):
            items.append(
                NewMemory(
                    text=chunk,
                    kind="note",
                    source_type="file",
                    source_ref=str(path),
                    batch=f"file:{path.resolve()}",
                    seq=seq,
                )
            )
    return items


def run_import(
    service: Any,
    items: Iterable[NewMemory],
    summary: ImportSummary,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    total: int | None = None,
) -> ImportSummary:
    """Add `items` in batches; an import that is cancelled, interrupted or fails takes back what
    it had added, so that it can simply be run again (a crash leaves the batches committed)."""
    started = time.perf_counter()
    check = cancel.raise_if_cancelled if cancel is not None else None
    ids: list[int] = []
    try:
        service.add_many(items, progress=progress, check=check, total=total, ids=ids)
    except BaseException:
        # on a full disk the batches stay: the first error is the one the user is told
        with contextlib.suppress(Exception):
            if ids:
                service.forget_many(ids)
        raise
    summary.ids = ids
    summary.imported = len(ids)
    summary.seconds = time.perf_counter() - started
    return summary
