"""Learning from an exchange: which extractor proposals to act on, and what "forget ..." removes."""

from __future__ import annotations

import logging
from typing import Any

from app.memory.extract import Candidate, Extractor
from app.memory.search import SearchOptions, content_words
from app.memory.writes import Change

log = logging.getLogger(__name__)

FORGET_MIN_COSINE = 0.55


def candidates(extractors: list[Extractor], user_text: str, assistant_text: str) -> list[Candidate]:
    """Proposals from every extractor, without repeats. An explicit request is the whole story;
    the model is only asked when the rules found nothing, keeping the engine free."""
    found: list[Candidate] = []
    for extractor in extractors:
        if extractor.name == "model" and found:
            continue
        try:
            got = extractor.extract(user_text, assistant_text)
        except Exception:
            log.exception("extractor %s failed", extractor.name)
            continue
        if got and got[0].origin == "explicit":
            return got
        for cand in got:
            if all(_norm(c.text) != _norm(cand.text) for c in found):
                found.append(cand)
    return found


def forget_matching(service: Any, text: str) -> list[Change]:
    """Forget the memories "forget <text>" is about: close in meaning, or holding all its words."""
    hits = service.search(text, k=3, options=SearchOptions(window=0))
    cos = service.cosines(service.embedder.embed([text])[0], [h.id for h in hits])
    words = set(content_words(text))
    chosen = [
        h
        for h in hits
        if cos.get(h.id, 0.0) >= FORGET_MIN_COSINE
        or (words and words <= set(content_words(h.text)) and cos.get(h.id, 0.0) >= 0.3)
    ]
    service.writer.forget([h.id for h in chosen])
    return [Change("forgot", h.id, h.text) for h in chosen]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
