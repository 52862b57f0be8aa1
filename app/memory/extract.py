"""What gets remembered from an exchange. Extractors share one base and live in a registry:
explicit requests ("remember that ...", "forget ..."), cheap rules for self-statements, and the
model (grammar-constrained JSON, see `extract_model.py`)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from app.memory import rules
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


# "Mr. Okafor", "Dr. Haruto": a title's full stop does not end the sentence.
_TITLES = r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bMrs\.)(?<!\bProf\.)"


def sentences(text: str) -> list[str]:
    parts = re.split(_TITLES + r"(?<=[.!?;])\s+|\n+", text.strip())
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


def _subject_of(text: str) -> str | None:
    for pattern, _kind, template in rules.RULES:
        m = pattern.search(text)
        if m and template:
            groups = {k: rules.value(v) for k, v in m.groupdict().items() if v}
            return normalise_subject(template.format(**{"rel": "", "v": "", **groups}))
    return None


def subject_of(text: str) -> str | None:
    """The slot a statement fills ("sister name"), or None."""
    return _subject_of(text)


@register
class RuleExtractor(Extractor):
    """A floor under the model: first-person statements in common shapes. "She lives in Lisbon"
    after "My sister is called Ana" becomes "My sister lives in Lisbon"."""

    name = "rules"

    def extract(self, user_text: str, assistant_text: str) -> list[Candidate]:
        found: list[Candidate] = []
        person: str | None = None
        for sentence in sentences(user_text):
            resolved = rules.resolve_pronoun(sentence, person)
            if resolved is not None:
                sentence = resolved
            else:
                person = rules.person_in(sentence) or person
            bare = sentence.rstrip(".!; ")
            if rules.not_a_fact(bare) or len(sentence) > 300:
                continue
            cand = self._match(bare)
            if cand is not None:
                found.append(cand)
        return found

    def _match(self, sentence: str) -> Candidate | None:
        for pattern, kind, template in rules.RULES:
            m = pattern.search(sentence)
            if not m:
                continue
            groups = {k: rules.value(v) for k, v in m.groupdict().items() if v}
            if "rel" in groups and groups["rel"].split()[0].lower() in rules.NOT_RELATIONS:
                continue
            subject = template.format(**{"rel": "", "v": "", **groups}) if template else ""
            return Candidate(clean(sentence), kind, normalise_subject(subject), origin=self.name)
        return None


def kind_or_fact(kind: object) -> str:
    return kind if isinstance(kind, str) and kind in KINDS else "fact"
