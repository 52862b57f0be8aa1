"""Imported dialog turns ("Caroline: I went to the support group"). A turn is embedded together
with the turn it answers; a question naming a speaker is embedded without the name (which half
the turns share, so it would swamp the topic) and favours that speaker's turns by a bonus."""

from __future__ import annotations

import re

_SPEAKER = re.compile(r"^\s*([A-Z][\w'.-]{0,30}(?: [A-Z][\w'.-]{0,30}){0,2}):\s+(.+)$", re.S)


def split_speaker(text: str) -> tuple[str | None, str]:
    """("Caroline", "I went ...") for a dialog turn; (None, text) otherwise."""
    m = _SPEAKER.match(text)
    if m is None:
        return None, text
    return m.group(1), m.group(2)


def context_text(previous: str | None, text: str) -> str:
    """What a dialog turn is embedded with besides itself: the turn it answers."""
    return f"{previous}\n{text}" if previous else text


def mentioned(query: str, names: set[str]) -> set[str]:
    return {n for n in names if re.search(rf"\b{re.escape(n)}\b", query)}


def strip_names(query: str, names: set[str]) -> str:
    """The question without the speakers it names ("What is Sam's dog called?" ->
    "What is their dog called?"), for embedding: who asked is matched separately."""
    for name in sorted(names, key=len, reverse=True):
        query = re.sub(rf"\b{re.escape(name)}'s\b", "their", query)
        query = re.sub(rf"\b{re.escape(name)}\b", "they", query)
    return query
