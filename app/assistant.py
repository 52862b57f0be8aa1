"""One turn of conversation: recall -> prompt -> stream -> persist -> learn.

`Assistant.send` is a generator of events; the CLI prints them, the window runs it in a worker
and forwards them by signal. The exchange is saved even when the reply is stopped early.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.cancel import CancelToken
from app.conversations import Conversations
from app.errors import HearthError
from app.llm.engine import Engine, GenerationStats
from app.llm.prompt import Turn, build_messages
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
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    user_message_id: int
    assistant_message_id: int
    tokens: int
    tok_s: float
    cancelled: bool


@dataclass(frozen=True)
class Failed:
    message: str


TurnEvent = Recalled | Token | Done | Failed


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
        self, conversation_id: int, text: str, cancel: CancelToken | None = None
    ) -> Iterator[TurnEvent]:
        text = text.strip()
        if not text:
            yield Failed("There is nothing to send.")
            return
        cancel = cancel or CancelToken()
        history = [Turn(m.role, m.content) for m in self.conversations.messages(conversation_id)]
        user_id = self.conversations.add_message(conversation_id, "user", text)
        self.conversations.title_from(conversation_id, text)

        recalled: list[Any] = []
        block = ""
        if self.memory is not None and self.settings.memory_enabled:
            try:
                recalled = self.memory.recall(text, conversation_id)
                block = self.memory.prompt_block(recalled) if recalled else ""
            except Exception:  # recall is a help, never a reason to fail a reply
                log.exception("memory recall failed")
            yield Recalled(recalled)

        stats = GenerationStats()
        parts: list[str] = []
        try:
            self.engine.wait_loaded()
            messages = build_messages(
                self.settings.system_prompt,
                history,
                text,
                context_block=block,
                n_ctx=self.engine.n_ctx,
                reserve_for_reply=self.settings.max_tokens,
                count_tokens=self.engine.count_tokens,
            )
            for chunk in self.engine.chat(
                messages,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
                cancel=cancel,
                stats=stats,
            ):
                parts.append(chunk)
                yield Token(chunk)
        except HearthError as exc:
            yield Failed(str(exc))
            return
        finally:
            # Whatever streamed is the user's: save it even when stopped or interrupted.
            reply = "".join(parts)
            info = self.engine.model_info
            assistant_id = self.conversations.add_message(
                conversation_id,
                "assistant",
                reply,
                model=info.name if info else None,
                tokens=stats.tokens,
                tok_s=round(stats.tok_s, 2),
                meta={
                    "memories_used": [m.id for m in recalled],
                    "cancelled": stats.cancelled,
                    # the server went away mid-answer (remote engines): the user can retry
                    "cut_off": stats.finish_reason == "cut_off",
                },
            )
        yield Done(user_id, assistant_id, stats.tokens, stats.tok_s, stats.cancelled)
        if self.memory is not None and self.settings.memory_enabled:
            self._learn(conversation_id, user_id, text, reply)

    def _learn(self, conversation_id: int, user_id: int, text: str, reply: str) -> None:
        """Extract memories in the background: the answer is never delayed by it."""
        memory = self.memory
        assert memory is not None

        def run() -> None:
            try:
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
