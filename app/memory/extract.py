"""What gets remembered from an exchange. Extractors share one base and live in a registry:
explicit requests ("remember that ...", "forget ..."), cheap rules for self-statements, and the
model (grammar-constrained JSON, see `extract_model.py`)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from app.memory.records import KINDS


@dataclass(frozen=True)
class Candidate:
    """A memory an extractor proposes. `subject` names the slot it fills ("sister's name"), so a
    later value for the same slot replaces it; `action` is "remember" or "forget"."""

    text: str
    kind: str = "fact"
    subject: str | None = None
    action: str = "remember"
    origin: str = "rule"


class Extractor(ABC):
    name: str = ""

    @abstractmethod
    def extract(self, user_text: str, assistant_text: str) -> list[Candidate]: ...


REGISTRY: dict[str, type[Extractor]] = {}


def register(cls: type[Extractor]) -> type[Extractor]:
    REGISTRY[cls.name] = cls
    return cls


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?;])\s+|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def clean(text: str) -> str:
    text = " ".join(text.split()).strip(" \t\"'")
    text = text.rstrip(".!;, ")
    return text[:1].upper() + text[1:] if text else text


def normalise_subject(subject: str | None) -> str | None:
    if not subject:
        return None
    words = re.findall(r"[a-z0-9']+", subject.lower())
    words = [w for w in words if w not in {"the", "a", "an", "user", "user's", "my", "is"}]
    return " ".join(words)[:60] or None


_REMEMBER = re.compile(
    r"^\s*(?:(?:please|hey|ok|okay)[, ]+)?(?:can you |could you |would you )?(?:please )?"
    r"(?:remember|note|keep in mind|don't forget)(?: that| this)?[:,]?\s+(?P<what>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_FORGET = re.compile(
    r"^\s*(?:(?:please|hey|ok|okay)[, ]+)?(?:can you |could you )?(?:please )?forget"
    r"(?: about| that| what i said about)?[:,]?\s+(?P<what>.+)$",
    re.IGNORECASE | re.DOTALL,
)


@register
class ExplicitExtractor(Extractor):
    """'Remember that ...' is always stored; 'forget ...' always removes."""

    name = "explicit"

    def extract(self, user_text: str, assistant_text: str) -> list[Candidate]:
        text = user_text.strip()
        if m := _FORGET.match(text):
            return [Candidate(clean(m.group("what")), action="forget", origin=self.name)]
        if m := _REMEMBER.match(text):
            what = clean(m.group("what").rstrip("?"))
            if what:
                kind = "preference" if _PREFERS.search(what) else "fact"
                return [Candidate(what, kind, _subject_of(what), origin=self.name)]
        return []


_PREFERS = re.compile(
    r"\b(i (?:really )?(?:like|love|prefer|enjoy|hate|dislike|don't like))\b", re.I
)

_PEOPLE = (
    r"sister|brother|mother|mom|mum|father|dad|wife|husband|partner|son|daughter|friend|"
    r"best friend|boss|dog|cat|girlfriend|boyfriend|grandmother|grandfather|aunt|uncle|cousin"
)
# (pattern, kind, subject template); subjects name the slot so a new value replaces the old one.
_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?)(?:'s name)? is (?:called|named) (?P<v>.+)", re.I),
        "fact",
        "{rel} name",
    ),
    (re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?)'s name is (?P<v>.+)", re.I), "fact", "{rel} name"),
    (re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?) is (?P<v>.+)", re.I), "fact", "{rel}"),
    (re.compile(r"\bmy (?P<rel>" + _PEOPLE + r")\b.{3,}", re.I), "fact", ""),
    (re.compile(r"\bi(?:'m| am) allergic to (?P<v>.+)", re.I), "fact", "allergy {v}"),
    (re.compile(r"\bi (?:live|reside) in (?P<v>.+)", re.I), "fact", "home city"),
    (
        re.compile(r"\bi(?:'ve| have)? (?:just )?(?:moved|relocated) to (?P<v>.+)", re.I),
        "fact",
        "home city",
    ),
    (re.compile(r"\bi work (?:as|at|for) (?P<v>.+)", re.I), "fact", "work"),
    (re.compile(r"\bi(?:'m| am) (?:a|an) (?P<v>[a-z ]{3,40})$", re.I), "fact", "occupation"),
    (re.compile(r"\bi(?:'m| am) (?P<v>\d{1,3}) years old", re.I), "fact", "age"),
    (re.compile(r"\bi (?:was born|grew up) in (?P<v>.+)", re.I), "fact", "born in"),
    (
        re.compile(
            r"\bi(?:'m| am) (?:vegan|vegetarian|pescatarian|lactose intolerant|diabetic)", re.I
        ),
        "fact",
        "diet",
    ),
    (re.compile(r"\bi (?:really )?(?:prefer|like|love|enjoy) (?P<v>.+)", re.I), "preference", ""),
    (
        re.compile(r"\bi (?:really )?(?:hate|dislike|can't stand|don't like) (?P<v>.+)", re.I),
        "preference",
        "",
    ),
    (re.compile(r"\bcall me (?P<v>.+)", re.I), "preference", "preferred name"),
]
_NOT_A_FACT = re.compile(r"\?$|\b(?:if|would|could|maybe|might|wonder)\b", re.I)


def _value(text: str | None) -> str:
    """A slot value without the rest of the sentence ("peanuts, by the way" -> "peanuts")."""
    return re.split(r"[,;:!?.]| and | but | because ", text or "")[0].strip()


def _subject_of(text: str) -> str | None:
    for pattern, _kind, template in _RULES:
        m = pattern.search(text)
        if m and template:
            groups = {k: _value(v) for k, v in m.groupdict().items()}
            return normalise_subject(template.format(**{"rel": "", "v": "", **groups}))
    return None


@register
class RuleExtractor(Extractor):
    """A floor under the model: first-person statements in common shapes."""

    name = "rules"

    def extract(self, user_text: str, assistant_text: str) -> list[Candidate]:
        found: list[Candidate] = []
        for sentence in sentences(user_text):
            if _NOT_A_FACT.search(sentence) or len(sentence) > 300:
                continue
            for pattern, kind, template in _RULES:
                m = pattern.search(sentence)
                if not m:
                    continue
                groups = {k: _value(v) for k, v in m.groupdict().items()}
                if "rel" in groups and groups["rel"].split()[0].lower() in _NOT_RELATIONS:
                    continue
                subject = template.format(**{"rel": "", "v": "", **groups}) if template else ""
                found.append(
                    Candidate(clean(sentence), kind, normalise_subject(subject), origin=self.name)
                )
                break
        return found


# "my question is", "my guess is": not facts about the user.
_NOT_RELATIONS = {
    "question",
    "guess",
    "point",
    "problem",
    "issue",
    "answer",
    "bad",
    "god",
    "goodness",
    "pleasure",
    "apologies",
    "idea",
    "plan",
    "request",
    "turn",
    "understanding",
    "concern",
}


def kind_or_fact(kind: object) -> str:
    return kind if isinstance(kind, str) and kind in KINDS else "fact"
