"""Thumbs and edits from the chat, handed to the adapters' feedback store.

The rating and the rewrite are also kept on the message itself (meta and content), so the window
shows them again after a restart.
"""

from __future__ import annotations

from typing import Any

from app.adapters.feedback import FeedbackStore


def rate(core: Any, message_id: int, rating: int) -> bool:
    """Record +1/-1 for an answer."""
    core.conversations.update_message(message_id, meta={"rating": rating})
    FeedbackStore(core.store).rate_message(message_id, rating)
    return True


def edit(core: Any, message_id: int, new_text: str) -> bool:
    """The user's rewrite of an answer: a preference example, then the answer's new text."""
    # The feedback store reads the original answer from the message, so it goes first.
    FeedbackStore(core.store).edit_message(message_id, new_text)
    old = core.conversations.message(message_id)
    original = old.content if old is not None else None
    meta: dict[str, Any] = {"edited": True}
    if old is not None and "original" not in (old.meta or {}):
        meta["original"] = original
    core.conversations.update_message(message_id, content=new_text, meta=meta)
    return True
