"""Build the messages for one turn within the context budget.

The prefix stays stable between turns (system prompt, then the history as it was), so
llama.cpp reuses its KV cache for all but the new tokens. Recalled memories go into the newest
user turn only, never in front of the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Tokens the chat template adds around each message (role markers); a safe over-estimate.
_PER_MESSAGE_OVERHEAD = 8


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


def build_messages(
    system_prompt: str,
    history: Sequence[Turn],
    user_text: str,
    *,
    context_block: str = "",
    n_ctx: int,
    reserve_for_reply: int,
    count_tokens: Callable[[str], int],
) -> list[dict[str, str]]:
    """System, the newest history that fits, then the user turn (with any context block)."""
    newest = f"{user_text}\n\n{context_block}" if context_block else user_text
    budget = n_ctx - reserve_for_reply
    used = count_tokens(system_prompt) + count_tokens(newest) + 2 * _PER_MESSAGE_OVERHEAD
    kept: list[Turn] = []
    for turn in reversed(history):
        cost = count_tokens(turn.content) + _PER_MESSAGE_OVERHEAD
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    # A history must start with a user turn for most chat templates.
    while kept and kept[0].role != "user":
        kept.pop(0)
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": t.role, "content": t.content} for t in kept]
    messages.append({"role": "user", "content": newest})
    return messages
