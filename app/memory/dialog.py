"""Imported dialog turns ("Caroline: I went to the support group"): the speaker prefix is kept in
the text but left out of what is embedded, because a name shared by half the turns would
otherwise dominate every similarity; questions naming a speaker favour that speaker's turns."""

from __future__ import annotations

import re

_SPEAKER = re.compile(r"^\s*([A-Z][\w'.-]{0,30}(?: [A-Z][\w'.-]{0,30}){0,2}):\s+(.+)$", re.S)


def split_speaker(text: str) -> tuple[str | None, str]:
    """("Caroline", "I went ...") for a dialog turn; (None, text) otherwise."""
    m = _SPEAKER.match(text)
    if m is None:
        return None, text
    return m.group(1), m.group(2)


def body(text: str) -> str:
    return split_speaker(text)[1]


def context_text(previous: str | None, text: str) -> str:
    """What a dialog turn is embedded with besides itself: the turn it answers."""
    return f"{body(previous)} {body(text)}" if previous else body(text)


def mentioned(query: str, names: set[str]) -> set[str]:
    return {n for n in names if re.search(rf"\b{re.escape(n)}\b", query)}


def strip_names(query: str, names: set[str]) -> str:
    """The question without the speakers it names ("What is Sam's dog called?" ->
    "What is their dog called?"), for embedding: who asked is matched separately."""
    for name in sorted(names, key=len, reverse=True):
        query = re.sub(rf"\b{re.escape(name)}'s\b", "their", query)
        query = re.sub(rf"\b{re.escape(name)}\b", "they", query)
    return query
