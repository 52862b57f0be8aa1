"""Imports: JSONL records (one memory per record, keeping its source id and time) and the
user's own notes (.txt/.md files or folders, cut into paragraph-sized chunks)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
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
) -> list[NewMemory]:
    items: list[NewMemory] = []
    for line, record in records:
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            summary.skipped += 1
            summary.problems.append(f"line {line}: no text")
            continue
        source_id = record.get("id")
        items.append(
            NewMemory(
                text=text,
                kind="note",
                source_type="import",
                source_ids=[] if source_id is None else [str(source_id)],
                batch=batch,
                seq=len(items),
                created_at=iso_time(record.get("created_at")),
            )
        )
    return items


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
    items: list[NewMemory],
    summary: ImportSummary,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    check = cancel.raise_if_cancelled if cancel is not None else None
    summary.ids = service.add_many(items, progress=progress, check=check)
    summary.imported = len(summary.ids)
    summary.seconds = time.perf_counter() - started
    return summary
