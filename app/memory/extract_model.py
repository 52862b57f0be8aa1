"""Memory extraction by the chat model, with output constrained to a JSON schema (llama.cpp turns
the schema into a grammar, so even a 135M model emits parseable JSON). Whatever comes back is
still validated: junk, hallucinations and anything not grounded in the user's words are dropped.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from app.memory.extract import (
    Candidate,
    Extractor,
    clean,
    kind_or_fact,
    normalise_subject,
    register,
    sentences,
    subject_of,
)
from app.memory.records import KINDS

log = logging.getLogger(__name__)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 3, "maxLength": 160},
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "subject": {"type": "string", "maxLength": 40},
                },
                "required": ["text", "kind", "subject"],
            },
        }
    },
    "required": ["memories"],
}

INSTRUCTIONS = (
    "You extract lasting facts and preferences the USER states about themselves or their life "
    "from one message. Copy the user's own words. Ignore questions, requests and anything the "
    "assistant said. If there is nothing worth remembering, return an empty list. "
    'Answer as JSON: {"memories": [{"text": ..., "kind": "fact|preference|note|event", '
    '"subject": "short slot name, e.g. sister name"}]}'
)

_WORD = re.compile(r"[a-z0-9']+")
_HINT = re.compile(r"\b(i|i'm|i've|my|me|mine|we|our)\b", re.I)


def grounded(text: str, source: str, share: float = 0.6) -> bool:
    """Most content words of an extracted memory must appear in what the user wrote."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 2]
    if not words:
        return False
    have = set(_WORD.findall(source.lower()))
    return sum(w in have for w in words) / len(words) >= share


def parse(raw: str, user_text: str) -> list[Candidate]:
    """Candidates from the model's output; never raises, whatever the output is."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return []
    items = data.get("memories") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    found: list[Candidate] = []
    for item in items[:3]:
        if not isinstance(item, dict):
            continue
        text = item.get("text")
        if not isinstance(text, str):
            continue
        text = clean(text)
        if len(text) < 3 or text.endswith("?") or not grounded(text, user_text):
            continue
        text = stand_alone(text, user_text)
        subject = item.get("subject")
        found.append(
            Candidate(
                text=text,
                kind=kind_or_fact(item.get("kind")),
                subject=subject_of(text) or _grounded_subject(subject, user_text),
                origin="model",
            )
        )
    return found


def stand_alone(text: str, user_text: str) -> str:
    """A short fragment ("2019", "Iron Temple") says nothing read on its own later: keep the
    user's sentence that holds it instead."""
    if len(text.split()) >= 4:
        return text
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1]
    best, share = text, 0.0
    for sentence in sentences(user_text):
        have = set(_WORD.findall(sentence.lower()))
        got = sum(w in have for w in words) / max(1, len(words))
        if got > share:
            best, share = clean(sentence), got
    return best


def _grounded_subject(subject: object, user_text: str) -> str | None:
    """The model's slot name, when its words are the user's (a small model often copies the
    example slot from its instructions instead)."""
    slot = normalise_subject(subject if isinstance(subject, str) else None)
    if slot is None:
        return None
    return slot if grounded(slot, user_text, share=1.0) else None


@register
class ModelExtractor(Extractor):
    """Asks the loaded chat model; does nothing when no model is loaded or the text has no
    first-person statement to look at."""

    name = "model"

    def __init__(self, engine: Any = None, max_tokens: int = 160) -> None:
        self.engine = engine
        self.max_tokens = max_tokens

    def extract(self, user_text: str, assistant_text: str) -> list[Candidate]:
        engine = self.engine
        if engine is None or not getattr(engine, "loaded", False):
            return []
        if not _HINT.search(user_text) or user_text.strip().endswith("?"):
            return []
        messages = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": user_text[:1500]},
        ]
        try:
            raw = engine.generate_text(
                messages, max_tokens=self.max_tokens, temperature=0.0, seed=0, json_schema=SCHEMA
            )
        except Exception as exc:  # extraction is best effort; the exchange is already saved
            log.warning("model extraction failed: %s", type(exc).__name__)
            return []
        return parse(raw, user_text)
