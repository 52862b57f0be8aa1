"""Build the messages for one turn within the context budget.

The prefix stays stable between turns (system prompt, then the history as it was sent), so
llama.cpp reuses its KV cache for all but the new tokens. Recalled memories go into the newest
user turn only, never in front of the history. When the conversation outgrows the context the
oldest turns are left out, and in a step: the context then starts at the same message for the
next several turns, so their prefix stays cached too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.errors import HearthError

# Tokens the chat template adds around each message (role markers); a safe over-estimate.
_PER_MESSAGE_OVERHEAD = 8
# When turns must be left out, the history is cut to this share of what fits, so that the next
# turns fit without moving the start again (each move re-evaluates the whole prompt).
_REFILL_SHARE = 0.75


class ContextError(HearthError):
    """A message that cannot fit the model's context."""


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    id: int | None = None  # the stored message it came from


@dataclass(frozen=True)
class Plan:
    messages: list[dict[str, str]]
    start_id: int | None  # first history message sent, when older ones were left out
    dropped: int  # history messages left out
    block_used: bool  # whether the context block fitted
    prompt_tokens: int  # estimated, template overhead included


def reply_reserve(n_ctx: int, max_tokens: int) -> int:
    """Room kept for the answer: the longest answer asked for, at most a quarter of the context."""
    return max(16, min(max_tokens, n_ctx // 4))


def plan_turn(
    system_prompt: str,
    history: Sequence[Turn],
    user_text: str,
    *,
    context_block: str = "",
    n_ctx: int,
    reserve_for_reply: int,
    count_tokens: Callable[[str], int],
    previous_start: int | None = None,
) -> Plan:
    """System, the history from a stable start, then the user turn (with the context block if
    it fits). Raises ContextError when the user's text alone cannot fit."""

    def cost(text: str) -> int:
        return count_tokens(text) + _PER_MESSAGE_OVERHEAD

    budget = n_ctx - reserve_for_reply
    fixed = cost(system_prompt) + cost(user_text)
    if fixed > budget:
        room = max(0, budget - cost(system_prompt) - _PER_MESSAGE_OVERHEAD)
        raise ContextError(
            f"This message is about {count_tokens(user_text)} tokens; the model's context "
            f"({n_ctx} tokens, with room kept for the answer) takes at most {room} for one "
            "message. Shorten or split it, or raise the context size in Settings."
        )
    newest = user_text
    block_used = False
    if context_block:
        with_block = f"{user_text}\n\n{context_block}"
        extra = cost(with_block) - cost(user_text)
        if fixed + extra <= budget:
            newest, fixed, block_used = with_block, fixed + extra, True
    room = budget - fixed
    costs = [cost(t.content) for t in history]
    start = _start(history, costs, room, previous_start)
    kept = history[start:]
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": t.role, "content": t.content} for t in kept]
    messages.append({"role": "user", "content": newest})
    return Plan(
        messages=messages,
        start_id=kept[0].id if start > 0 and kept else None,
        dropped=start,
        block_used=block_used,
        prompt_tokens=fixed + sum(costs[start:]),
    )


def _start(history: Sequence[Turn], costs: list[int], room: int, previous_start: int | None) -> int:
    """Index of the first history turn sent: where the last turn started if that still fits,
    else far enough on that the next turns fit too; always at a user turn."""
    first = 0
    if previous_start is not None:
        ids = [t.id for t in history]
        first = ids.index(previous_start) if previous_start in ids else 0
    total = sum(costs[first:])
    if total > room:
        target = int(room * _REFILL_SHARE)
        while first < len(history) and total > target:
            total -= costs[first]
            first += 1
    # A history must start with a user turn for most chat templates.
    while first < len(history) and history[first].role != "user":
        first += 1
    return first


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
    """The messages of `plan_turn` alone."""
    return plan_turn(
        system_prompt,
        history,
        user_text,
        context_block=context_block,
        n_ctx=n_ctx,
        reserve_for_reply=reserve_for_reply,
        count_tokens=count_tokens,
    ).messages
