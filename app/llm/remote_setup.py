"""Which engine answers, and whether the user's adapter can answer with it on their server.

An adapter only works on the exact base model it was trained from, so it is used on a server
only when the server's base model is known to be that one: the user declared its sha256 (or
"the same file as my local model"), and no hash the server reports says otherwise. Hearth
cannot send an adapter file; the server must have loaded it. What each server supports:

- llama.cpp's `llama-server`: adapters loaded at start (`--lora FILE`, best with
  `--lora-init-without-apply`), chosen per request by `"lora": [{"id": N, "scale": s}]`;
  a request that lists none runs none. Set up with `hearth engines add ... --lora-id N`.
- llama-cpp-python's server: one adapter per model entry of its config file (`lora_path`,
  with a `model_alias`); a request picks the entry by model name (the server reloads the model
  when the name changes). Set up with `--adapter-model ALIAS`.
- vLLM: `--enable-lora --lora-modules NAME=PATH`; a request picks it by `"model": NAME`.
  Set up with `--adapter-model NAME`.
- Ollama: an adapter is baked into a model (Modelfile `ADAPTER`), no per-request choice; that
  model's name is the `--adapter-model`. Ollama names model files by their sha256, which is
  checked against the adapter's base when the server reports it.

Anything else: the personal adapter applies to the local model only, and Hearth says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.llm.base import LOCAL, ChatEngine, build
from app.llm.servers import ServerRecord, Servers, allow_only

if TYPE_CHECKING:
    from app.llm.remote import RemoteEngine

# Ollama names model files by their sha256 (`sha256-<hex>`); a reported hash must agree.
_REPORTED = re.compile(r"sha256[-:]([0-9a-f]{64})")


@dataclass(frozen=True)
class PersonalAdapter:
    name: str
    base_sha256: str | None
    scale: float = 1.0


@dataclass(frozen=True)
class AdapterPlan:
    applies: bool
    message: str  # what the window and the CLI say about the adapter on this server
    model: str | None = None  # the model name to ask for (it carries the adapter)
    extra: dict[str, Any] = field(default_factory=dict)  # added to every request
    avoid: tuple[str, ...] = ()  # model names never to fall back on (they carry the adapter)


@dataclass
class Answering:
    """The engine that answers now: 'local' or the name of a server the user added."""

    name: str
    engine: ChatEngine
    record: ServerRecord | None = None
    plan: AdapterPlan | None = None

    @property
    def remote(self) -> bool:
        return self.record is not None

    def describe(self) -> str:
        if self.record is None:
            return "local model"
        return f"{self.name} ({self.record.host})"


def plan_adapter(
    record: ServerRecord, adapter: PersonalAdapter | None, reported: list[str] | None = None
) -> AdapterPlan:
    """Whether `adapter` may be used on `record`'s server, and how the request asks for it."""
    lora_id = record.options.get("lora_id")
    adapter_model = record.options.get("adapter_model")

    def local_only(why: str) -> AdapterPlan:
        # With llama.cpp's server, a request that names no adapters runs none of them.
        off: dict[str, Any] = {"lora": []} if lora_id is not None else {}
        avoid = (str(adapter_model),) if adapter_model is not None else ()
        message = (
            f"Your personal adapter ({adapter.name}) applies only to the local model: {why}"
            if adapter is not None and why
            else ""
        )
        return AdapterPlan(False, message, record.model, off, avoid)

    if adapter is None:
        return local_only("")
    if adapter_model is None and lora_id is None:
        return local_only(f"{record.name} has no adapter of yours set up.")
    if not adapter.base_sha256 or not record.base_sha256:
        return local_only(
            f"Hearth cannot tell whether {record.name} runs the same base model "
            "(declare its sha256 when adding the server)."
        )
    hashes = {m.group(1) for name in reported or [] for m in _REPORTED.finditer(name.lower())}
    if record.base_sha256 != adapter.base_sha256 or (hashes and adapter.base_sha256 not in hashes):
        return local_only(
            f"{record.name} runs another base model, and an adapter only works on "
            "the model it was trained from."
        )
    answers = f"Your personal adapter ({adapter.name}) answers on {record.name}."
    if adapter_model is not None:
        return AdapterPlan(True, answers, str(adapter_model), {})
    extra = {"lora": [{"id": int(str(lora_id)), "scale": float(adapter.scale)}]}
    return AdapterPlan(True, answers, record.model, extra)


def personal_adapter(store: Any) -> PersonalAdapter | None:
    """The user's active adapter, read from the database (no model or torch needed)."""
    from app.adapters.versions import Versions

    versions = Versions(store)
    version = versions.active()
    if version is None:
        return None
    return PersonalAdapter(version.name, version.base_sha256, versions.scale())


def open_remote(
    servers: Servers, record: ServerRecord, adapter: PersonalAdapter | None
) -> tuple[RemoteEngine, AdapterPlan]:
    """A RemoteEngine for `record` (no connection yet), with the adapter decided."""
    from app.llm.remote import RemoteEngine, RemoteOptions  # httpx: only when a server is used

    plan = plan_adapter(record, adapter)
    options = RemoteOptions(
        **{
            k: v
            for k, v in record.options.items()
            if k in ("n_ctx", "connect_timeout_s", "read_timeout_s", "retries")
        }
    )
    # Every server the user adds speaks the OpenAI-compatible subset: one kind in the registry.
    engine = build(
        "openai",
        url=record.url,
        name=record.name,
        api_key=servers.api_key(record),
        model=plan.model,
        options=options,
        request_extra=dict(plan.extra),
        avoid_models=plan.avoid,
    )
    assert isinstance(engine, RemoteEngine)
    return engine, plan


def check_server(servers: Servers, record: ServerRecord) -> list[str]:
    """Connect to `record` (the guard lets its host through for the test) and list its models."""
    engine, _plan = open_remote(servers, record, None)
    try:
        with servers.reaching(record):
            return engine.models()
    finally:
        engine.close()


def choose(core: Any, name: str | None, *, remember: bool = True) -> Answering:
    """Make `name` (a server, or None/'local') answer the user's turns; the guard lets through
    that server's host and nothing else. `remember` keeps the choice for the next start."""
    servers = Servers(core.store)
    record = None if name in (None, LOCAL) else servers.get(str(name))
    if remember:
        servers.use(record.name if record is not None else None)
    else:
        allow_only(record)
    previous = getattr(core, "answering", None)
    if record is None:
        answering = Answering(LOCAL, core.engine)
    else:
        engine, plan = open_remote(servers, record, personal_adapter(core.store))
        answering = Answering(record.name, engine, record, plan)
        engine.planner = _follow_adapter(core.store, answering)
    core.assistant.engine = answering.engine
    core.answering = answering
    if previous is not None and previous.remote:
        previous.engine.close()
    return answering


def _follow_adapter(
    store: Any, answering: Answering
) -> Callable[[list[str]], tuple[str | None, dict[str, Any], tuple[str, ...]]]:
    """Before each reply: the adapter plan for the user's adapter as it is now, checked
    against the hashes in the server's model list."""
    assert answering.record is not None
    record = answering.record

    def plan(reported: list[str]) -> tuple[str | None, dict[str, Any], tuple[str, ...]]:
        answering.plan = plan_adapter(record, personal_adapter(store), reported)
        return answering.plan.model, dict(answering.plan.extra), answering.plan.avoid

    return plan


def restore(core: Any) -> Answering:
    """At start: the engine the user chose last time answers again (nothing is written)."""
    record = Servers(core.store).active()
    return choose(core, record.name if record is not None else None, remember=False)
