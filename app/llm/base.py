"""What every engine offers the assistant: the embedded model and a server of the user's own.

`ChatEngine` is a Protocol, so the embedded `Engine` satisfies it as it stands and the assistant
can be handed either. The registry maps an engine kind to the function that builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.cancel import CancelToken
from app.llm.engine import GenerationStats

LOCAL = "local"


class NamedModel(Protocol):
    @property
    def name(self) -> str: ...


@runtime_checkable
class ChatEngine(Protocol):
    """A streamed chat over some model: token chunks out, GenerationStats filled as it runs."""

    @property
    def n_ctx(self) -> int: ...

    @property
    def model_info(self) -> NamedModel | None: ...

    def wait_loaded(self, timeout: float | None = None) -> NamedModel: ...

    def count_tokens(self, text: str) -> int: ...

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]: ...

    def generate_text(self, messages: list[dict[str, str]], **kwargs: Any) -> str: ...

    def close(self) -> None: ...


# kind -> builder(**options) -> engine; remote kinds register themselves on import.
_REGISTRY: dict[str, Callable[..., ChatEngine]] = {}


def register(kind: str) -> Callable[[Callable[..., ChatEngine]], Callable[..., ChatEngine]]:
    def wrap(builder: Callable[..., ChatEngine]) -> Callable[..., ChatEngine]:
        _REGISTRY[kind] = builder
        return builder

    return wrap


def build(kind: str, **options: Any) -> ChatEngine:
    if kind not in _REGISTRY and kind == "openai":
        import app.llm.remote  # noqa: F401  (registers itself)
    try:
        builder = _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown engine kind {kind!r}") from None
    return builder(**options)


def kinds() -> list[str]:
    return sorted(_REGISTRY)


if TYPE_CHECKING:  # mypy proves that both engines fit the interface, with no runtime cost
    from app.llm.engine import Engine
    from app.llm.remote import RemoteEngine

    def _embedded(engine: Engine) -> ChatEngine:
        return engine

    def _remote(engine: RemoteEngine) -> ChatEngine:
        return engine
