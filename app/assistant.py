"""One turn of conversation: recall -> prompt -> stream -> persist -> learn.

`Assistant.send` is a generator of events; the CLI prints them, the window runs it in a worker
and forwards them by signal. The exchange is saved even when the reply is stopped early.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.adapters import statements
from app.cancel import CancelToken
from app.conversations import AT_END, Conversations, Message, title_for
from app.errors import HearthError
from app.llm.engine import Engine, GenerationStats
from app.llm.prompt import Plan, Turn, plan_turn, reply_reserve
from app.settings import Settings
from app.store import Store

log = logging.getLogger(__name__)


class RecalledMemory(Protocol):
    id: int
    text: str


class MemoryHook(Protocol):
    def recall(self, query: str, conversation_id: int | None) -> list[Any]: ...

    def prompt_block(self, recalled: list[Any]) -> str: ...

    def observe(
        self, conversation_id: int, user_message_id: int, user_text: str, assistant_text: str
    ) -> list[Any]: ...


@dataclass(frozen=True)
class Recalled:
    memories: list[Any]


@dataclass(frozen=True)
class Opened:
    """The conversation a turn started (sent when `send` was given none)."""

    conversation_id: int


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    user_message_id: int
    assistant_message_id: int | None  # None when stopped before the first token
    tokens: int
    tok_s: float
    cancelled: bool
    context_start: int | None = None  # first message the model saw, when older ones were left out
    prompt_tokens: int = 0
    prompt_evaluated: int = 0  # prompt tokens the engine evaluated (the rest came from its cache)
    prepared_next: int = 0  # the next turn's opening tokens, evaluated after the answer ended


@dataclass(frozen=True)
class Failed:
    message: str


TurnEvent = Opened | Recalled | Token | Done | Failed


@dataclass
class Assistant:
    store: Store
    engine: Engine
    memory: MemoryHook | None = None
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.conversations = Conversations(self.store)
        self._learners: list[threading.Thread] = []

    def send(
        self, conversation_id: int | None, text: str, cancel: CancelToken | None = None
    ) -> Iterator[TurnEvent]:
        """One turn. Nothing is stored for a message that cannot fit the context; a turn that
        fails before its first token leaves no trace; a reply stopped early is kept as is.
        Without a conversation id, a new conversation is made once the message is accepted."""
        text = text.strip()
        if not text:
            yield Failed("There is nothing to send.")
            return
        with self._foreground():
            yield from self._turn(conversation_id, text, cancel or CancelToken())

    def regenerate(
        self, assistant_message_id: int, cancel: CancelToken | None = None
    ) -> Iterator[TurnEvent]:
        """A new answer to the same question, kept beside the old one as another version."""
        answer = self.conversations.message(assistant_message_id)
        question = self.conversations.message(answer.parent_id or 0) if answer else None
        if answer is None or answer.role != "assistant" or question is None:
            yield Failed("There is no answer to regenerate.")
            return
        with self._foreground():
            yield from self._turn(
                answer.conversation_id,
                question.content,
                cancel or CancelToken(),
                asked=question,
                used=list(answer.meta.get("memories_used") or []),
            )

    def edit(
        self, user_message_id: int, text: str, cancel: CancelToken | None = None
    ) -> Iterator[TurnEvent]:
        """Send an edited question in place of an earlier one; the original and everything
        after it stay as the other version."""
        original = self.conversations.message(user_message_id)
        text = text.strip()
        if original is None or original.role != "user":
            yield Failed("There is no message to edit.")
            return
        if not text:
            yield Failed("There is nothing to send.")
            return
        with self._foreground():
            yield from self._turn(
                original.conversation_id, text, cancel or CancelToken(), parent=original.parent_id
            )

    def _sampling(self) -> dict[str, Any]:
        """Top-p, top-k and repeat penalty from the settings, for engines that take them."""
        try:
            accepted = inspect.signature(self.engine.chat).parameters
        except (TypeError, ValueError):
            return {}
        wanted = {
            "top_p": self.settings.top_p,
            "top_k": self.settings.top_k,
            "repeat_penalty": self.settings.repeat_penalty,
        }
        return {k: v for k, v in wanted.items() if k in accepted}

    def _foreground(self) -> contextlib.AbstractContextManager[Any]:
        # Background generations (memory extraction) pause while a reply is due.
        foreground = getattr(self.engine, "foreground", None)
        return foreground() if foreground is not None else contextlib.nullcontext()

    def _turn(
        self,
        conversation: int | None,
        text: str,
        cancel: CancelToken,
        *,
        parent: int | object | None = AT_END,
        asked: Message | None = None,
        used: list[int] | None = None,
    ) -> Iterator[TurnEvent]:
        """`parent`: where the new question goes (an edit); `asked`: a stored question to
        answer again (a regeneration)."""
        try:
            self.engine.wait_loaded()
            if conversation is None:
                before: list[Message] = []
            elif asked is not None:
                before = self.conversations.path_to(asked.parent_id)
            elif parent is AT_END:
                before = self.conversations.messages(conversation)
            else:
                before = self.conversations.path_to(parent)  # type: ignore[arg-type]
            history, previous_start = _turns(before)
            count = _memo(self.engine.count_tokens)
            reserve = reply_reserve(self.engine.n_ctx, self.settings.max_tokens)
            # Stated preferences ("keep answers short"), this message's included.
            system = self.settings.system_prompt + statements.for_turn(self.store, text)

            def plan(block: str) -> Plan:
                return plan_turn(
                    system,
                    history,
                    text,
                    context_block=block,
                    n_ctx=self.engine.n_ctx,
                    reserve_for_reply=reserve,
                    count_tokens=count,
                    previous_start=previous_start,
                )

            plan("")  # a message that cannot fit is refused before anything is stored
        except HearthError as exc:
            yield Failed(str(exc))
            return
        if conversation is None:
            conversation_id = self.conversations.create(title_for(text))
            yield Opened(conversation_id)
        else:
            conversation_id = conversation
        recalled: list[Any] = []
        block = ""
        if asked is not None:
            # The question as it was sent, memories included: its cached prefix still matches.
            user_id = asked.id
            block = str(asked.meta.get("context_block") or "")
        else:
            user_id = self.conversations.add_message(
                conversation_id, "user", text, parent_id=parent
            )
            self.conversations.title_from(conversation_id, text)
        if asked is None and self.memory is not None and self.settings.memory_enabled:
            try:
                recalled = self.memory.recall(text, conversation_id)
                block = self.memory.prompt_block(recalled) if recalled else ""
            except Exception:  # recall is a help, never a reason to fail a reply
                log.exception("memory recall failed")
            yield Recalled(recalled)

        stats = GenerationStats()
        parts: list[str] = []
        ok = False
        turn: Plan | None = None
        try:
            turn = plan(block)
            if turn.block_used and asked is None:
                # Stored with the message so later turns resend it byte for byte: the
                # conversation's cached prefix keeps matching.
                self.conversations.update_message(user_id, meta={"context_block": block})
            for chunk in self.engine.chat(
                turn.messages,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
                cancel=cancel,
                stats=stats,
                **self._sampling(),
            ):
                parts.append(chunk)
                yield Token(chunk)
            ok = True
        except HearthError as exc:
            yield Failed(str(exc))
        finally:
            reply = "".join(parts)
            assistant_id = None
            if reply:
                # Whatever streamed is the user's: saved even when stopped or interrupted.
                info = self.engine.model_info
                assistant_id = self.conversations.add_message(
                    conversation_id,
                    "assistant",
                    reply,
                    model=info.label if info else None,
                    tokens=stats.tokens,
                    tok_s=round(stats.tok_s, 2),
                    parent_id=user_id,
                    meta={
                        "memories_used": used if asked else [m.id for m in recalled],
                        "cancelled": stats.cancelled,
                        # the server went away mid-answer (remote engines): the user can retry
                        "cut_off": stats.finish_reason == "cut_off",
                        "context_start": turn.start_id if turn else None,
                    },
                )
            elif not ok and not cancel.cancelled and asked is None:
                # Failed before a word was written: the turn leaves no trace.
                self.conversations.delete_message(user_id)
        if not ok and not reply:
            return
        yield Done(
            user_id,
            assistant_id,
            stats.tokens,
            stats.tok_s,
            stats.cancelled,
            context_start=turn.start_id if turn else None,
            prompt_tokens=stats.prompt_tokens,
            prompt_evaluated=stats.prompt_evaluated,
            prepared_next=stats.prepared_next,
        )
        if reply and asked is None and self.memory is not None and self.settings.memory_enabled:
            self._learn(conversation_id, user_id, text, reply)

    def history(self, conversation_id: int) -> tuple[list[Turn], int | None]:
        """The branch shown as it was sent (user turns with the memories they carried), and
        where the last turn's context started."""
        return _turns(self.conversations.messages(conversation_id))

    def _learn(self, conversation_id: int, user_id: int, text: str, reply: str) -> None:
        """Extract memories in the background: the answer is never delayed by it."""
        memory = self.memory
        assert memory is not None

        background = getattr(self.engine, "background", None)
        quiet = getattr(self.engine, "wait_quiet", None)

        def run() -> None:
            try:
                if quiet is not None:
                    quiet()  # the whole extraction (model, embedding, index) waits for a lull
                # Extraction runs on the engine's background context: the conversation's
                # cached prefix stays, and the next reply never waits for it.
                with background() if background is not None else contextlib.nullcontext():
                    memory.observe(conversation_id, user_id, text, reply)
            except Exception:
                log.exception("memory extraction failed")

        thread = threading.Thread(target=run, name="hearth-learn", daemon=True)
        self._learners = [t for t in self._learners if t.is_alive()] + [thread]
        thread.start()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait for background learning to finish (tests, shutdown)."""
        for thread in list(self._learners):
            thread.join(timeout)


def _memo(count: Callable[[str], int]) -> Callable[[str], int]:
    """Count each text once per turn (the budget is planned twice)."""
    seen: dict[str, int] = {}

    def counted(text: str) -> int:
        if text not in seen:
            seen[text] = count(text)
        return seen[text]

    return counted


def _turns(messages: list[Message]) -> tuple[list[Turn], int | None]:
    turns: list[Turn] = []
    start: int | None = None
    for m in messages:
        content = m.content
        block = m.meta.get("context_block")
        if m.role == "user" and isinstance(block, str) and block:
            content = f"{content}\n\n{block}"
        if m.role == "assistant":
            start = m.meta.get("context_start")
        turns.append(Turn(m.role, content, m.id))
    return turns, start
