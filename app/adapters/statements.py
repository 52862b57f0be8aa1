"""Stated preferences ("keep answers short", "call me Sam", "never use emoji").

A message that states how the user wants to be answered is stored as a `statement` feedback
item (the user sees, edits and deletes it with the rest of their feedback) and applies at once:
every stored statement goes into the system prompt as a short list, in the order they were
given, so the system prompt stays byte for byte the same between turns until the list changes
(llama.cpp keeps reusing the conversation's cached prefix). Training uses the same system
prompt, so an adapter learns the user's edits under the preferences it will be used with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app.adapters.feedback import FeedbackStore

MAX_LENGTH = 160  # a statement is one short instruction, not a message about something else
HEADER = "The user's stated preferences (follow them in every answer):"

_VERBS = (
    r"use|answer|reply|respond|write|start|begin|end|finish|include|say|add|sign|call|give"
    r"|keep|make|be|put|format|greet|address|mention|list|explain|talk|speak"
)
_ANSWERS = r"(?:answers?|replies|reply|responses?|messages?|explanations?)"
_POLITE = r"^(?:(?:please|from now on|going forward|in future|in the future)[,:]?\s+)*"
_PATTERNS = [
    # "call me Sam", "please call me Dr. Ruiz"
    re.compile(_POLITE + r"call me\s+\S", re.I),
    # "always answer in French", "never use emoji", "don't use bullet points"
    re.compile(_POLITE + rf"(?:always|never|don'?t|do not|stop)\s+(?:\w+ing|{_VERBS})\b", re.I),
    # "keep answers short", "make your replies more formal"
    re.compile(_POLITE + rf"(?:keep|make)\s+(?:your\s+|the\s+|all\s+)?{_ANSWERS}\b", re.I),
    # "answer in English", "reply briefly", "write in bullet points"
    re.compile(
        _POLITE + r"(?:answer|reply|respond|write|talk|speak)\s+(?:to me\s+)?"
        r"(?:in|with|only|briefly|shortly|concisely|formally|informally|simply|plainly)\b",
        re.I,
    ),
    # "I prefer short answers", "I like replies with examples"
    re.compile(rf"^i\s+(?:prefer|like|want|would like)\s+(?:\w+\s+){{0,3}}{_ANSWERS}\b", re.I),
    # "end every answer with ...", "start each reply with ..."
    re.compile(
        _POLITE + rf"(?:start|begin|end|finish|sign)\s+(?:every|each|all|your)\s+{_ANSWERS}",
        re.I,
    ),
]


def detect(text: str) -> str | None:
    """The statement `text` makes, cleaned, or None when it is not one (a question, a long
    message, anything that does not say how to answer)."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_LENGTH or text.endswith("?"):
        return None
    if not any(p.search(text) for p in _PATTERNS):
        return None
    return text.rstrip(" .!")


def note(store: Any, text: str, *, source_message_id: int | None = None) -> int | None:
    """Store `text` as a statement if it is one and not stored already; its feedback id."""
    statement = detect(text)
    if statement is None:
        return None
    feedback = FeedbackStore(store)
    for item in feedback.list("statement"):
        if (item.statement or "").casefold().rstrip(" .!") == statement.casefold():
            return item.id
    return feedback.add_statement(statement, source_message_id=source_message_id)


def stored(store: Any) -> list[str]:
    """Every stored statement, oldest first."""
    return [f.statement for f in FeedbackStore(store).list("statement") if f.statement]


def line(statement: str) -> str:
    """A statement as the model reads it: about "the user", a sentence with its full stop."""
    text = statement.strip().rstrip(" .!")
    text = re.sub(r"\bcall me\b", "call the user", text, flags=re.I)
    text = re.sub(r"\b(to|for|with|tell|give|show|ask) me\b", r"\1 the user", text, flags=re.I)
    text = re.sub(r"\bmy\b", "the user's", text, flags=re.I)
    text = re.sub(r"^i (prefer|like|want)\b", r"The user \1s", text, flags=re.I)
    text = re.sub(r"^i\b", "The user", text, flags=re.I)
    return f"- {text[:1].upper()}{text[1:]}."


def addition(statements: Sequence[str]) -> str:
    """What goes after the system prompt: nothing without statements, else the list."""
    if not statements:
        return ""
    return "\n\n" + "\n".join([HEADER, *(line(s) for s in statements)])


def system_prompt(base: str, statements: Sequence[str]) -> str:
    """The system prompt with the stated preferences (training uses this too)."""
    return base + addition(statements)


def for_turn(store: Any, user_text: str) -> str:
    """For the chat: store `user_text` if it states a preference (it applies to its own answer
    already), then the text to append to the system prompt (empty without preferences)."""
    note(store, user_text)
    return addition(stored(store))
