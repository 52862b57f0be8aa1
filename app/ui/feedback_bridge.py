"""Thumbs and edits from the chat, handed to the adapter helper's feedback store when it exists.

The rating and the rewrite are also kept on the message itself (meta and content), so the window
shows them again after a restart even before personalization is installed.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _feedback_store(core: Any) -> Any | None:
    try:
        from app.adapters.feedback import FeedbackStore
    except ImportError:
        return None
    return FeedbackStore(core.store)


def rate(core: Any, message_id: int, rating: int) -> bool:
    """Record +1/-1 for an answer; True when it reached the feedback store."""
    core.conversations.update_message(message_id, meta={"rating": rating})
    store = _feedback_store(core)
    if store is None:
        return False
    store.rate_message(message_id, rating)
    return True


def edit(core: Any, message_id: int, new_text: str) -> bool:
    """The user's rewrite of an answer: a preference example, then the answer's new text."""
    store = _feedback_store(core)
    if store is not None:
        # The feedback store reads the original answer from the message, so it goes first.
        store.edit_message(message_id, new_text)
    old = core.conversations.message(message_id)
    original = old.content if old is not None else None
    meta: dict[str, Any] = {"edited": True}
    if old is not None and "original" not in (old.meta or {}):
        meta["original"] = original
    core.conversations.update_message(message_id, content=new_text, meta=meta)
    return store is not None
