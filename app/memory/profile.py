"""What Hearth knows about the user, as the Memories page shows it: each memory under the person
or topic it is about, and one line that sums the user up, which the user can correct (the
correction is kept as a pinned memory and replaces any earlier one)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from app.memory import rules
from app.memory.dialog import split_speaker

SUMMARY_SUBJECT = "about me"
SUMMARY_PREFIX = "About me: "
SUMMARY_FACTS = 5

# Topic by the words a memory uses; the first that matches wins.
_TOPICS: list[tuple[str, re.Pattern[str]]] = [
    ("Pets", re.compile(r"\b(?:dog|cat|horse|parrot|pet|puppy|kitten|fish|vet)s?\b", re.I)),
    (
        "Work",
        re.compile(r"\b(?:work|job|boss|colleague|office|employ\w*|shift|ward|career)\b", re.I),
    ),
    (
        "Places",
        re.compile(r"\b(?:live|lived|born|grew up|moved|city|flat|house|home|floor)\b", re.I),
    ),
    ("Health", re.compile(r"\b(?:allergic|allergy|vegetarian|vegan|blood|diet|doctor)\b", re.I)),
    (
        "Dates",
        re.compile(
            r"\b(?:birthday|anniversary|appointment|married|wedding|\d{4})\b|"
            r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d",
            re.I,
        ),
    ),
]
_ONE_PERSON = {"mom": "Mother", "mum": "Mother", "dad": "Father", "grandma": "Grandmother"}


def topic_of(mem: Any) -> str:
    """The person ("Sister", or a dialog's speaker) or topic a memory is about."""
    text = str(mem.text)
    speaker, _said = split_speaker(text)
    if speaker is not None and getattr(mem, "batch", None):
        return speaker
    if getattr(mem, "subject", None) == SUMMARY_SUBJECT:
        return "About you"
    person = rules.person_in(text)
    if person is not None:
        return _ONE_PERSON.get(person, person.capitalize())
    if getattr(mem, "kind", "") == "preference":
        return "Likes and dislikes"
    for name, pattern in _TOPICS:
        if pattern.search(text):
            return name
    return "Other"


def grouped(memories: Iterable[Any]) -> list[tuple[str, list[Any]]]:
    """Memories by topic: people and topics with most memories first, "Other" last."""
    groups: dict[str, list[Any]] = {}
    for mem in memories:
        groups.setdefault(topic_of(mem), []).append(mem)
    return sorted(groups.items(), key=lambda kv: (kv[0] == "Other", -len(kv[1]), kv[0]))


_TO_YOU = [
    (re.compile(r"\bI am\b|\bI'm\b"), "you're"),
    (re.compile(r"\bI've\b"), "you've"),
    (re.compile(r"\bI was\b"), "you were"),
    (re.compile(r"\bI\b"), "you"),
    (re.compile(r"\b(?:my|our)\b", re.I), "your"),
    (re.compile(r"\b(?:me|us)\b", re.I), "you"),
    (re.compile(r"\bwe\b", re.I), "you"),
]


def to_you(text: str) -> str:
    """The user's words said back to them: "My sister is Ana" -> "your sister is Ana"."""
    out = " ".join(text.split()).rstrip(".!")
    for pattern, said in _TO_YOU:
        out = pattern.sub(said, out)
    return out[:1].lower() + out[1:] if out[:1].isupper() and out[1:2].islower() else out


def summary(memories: Iterable[Any]) -> str:
    """One line: the user's own correction when there is one, else the few facts that fill a
    slot (name, city, job...), pinned and most used first."""
    facts: list[Any] = []
    for mem in memories:
        if getattr(mem, "subject", None) == SUMMARY_SUBJECT:
            return str(mem.text).removeprefix(SUMMARY_PREFIX)
        if getattr(mem, "subject", None) and not getattr(mem, "batch", None):
            facts.append(mem)
    facts.sort(key=lambda m: (not m.pinned, -int(m.use_count or 0), -m.id))
    said = [to_you(str(m.text)) for m in facts[:SUMMARY_FACTS]]
    if not said:
        return ""
    line = "; ".join(said)
    return line[:1].upper() + line[1:] + "."
