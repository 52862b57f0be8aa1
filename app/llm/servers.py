"""The user's own servers (engines Hearth may talk to): added explicitly, kept in the database.

Adding a server is the user's consent to send it prompts, recalled memories and preferences.
The network guard lets through the host of the server in use and nothing else; with none in
use (fully local) only loopback is allowed. API keys live in `server_keys`, never here.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.errors import HearthError
from app.llm import server_keys
from app.llm.base import LOCAL
from app.privacy import guard
from app.store import Store

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Engine options the user may set, with their types (the rest of a record is columns).
OPTION_TYPES: dict[str, type] = {
    "n_ctx": int,
    "connect_timeout_s": float,
    "read_timeout_s": float,
    "retries": int,
    "adapter_model": str,  # a model name on the server that carries the user's adapter
    "lora_id": int,  # llama.cpp's server: the id of the user's adapter (--lora FILE)
}


@dataclass(frozen=True)
class ServerRecord:
    id: int
    name: str
    url: str
    model: str | None
    has_key: bool
    base_sha256: str | None  # the base model the server runs, as the user declared it
    options: dict[str, Any] = field(default_factory=dict)
    active: bool = False

    @property
    def host(self) -> str:
        return host_of(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "model": self.model,
            "api_key": self.has_key,
            "base_sha256": self.base_sha256,
            "options": self.options,
            "active": self.active,
        }


def host_of(url: str) -> str:
    """The host part of a server address, lower case, without IPv6 brackets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        host = None
    if not host or not url.lower().startswith(("http://", "https://")):
        raise HearthError(f"{url!r} is not a server address (like http://192.168.1.20:8080)")
    return host


def check_url(url: str) -> str:
    url = url.strip().rstrip("/")
    host_of(url)
    return url


def allow_only(*records: ServerRecord | None) -> set[str]:
    """The network guard lets through these servers' hosts and nothing else (loopback aside)."""
    guard.disallow_all()
    for record in records:
        if record is not None:
            guard.allow_host(record.host)
    return guard.allowed_hosts()


def _record(row: Any) -> ServerRecord:
    return ServerRecord(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        model=row["model"],
        has_key=bool(row["has_key"]),
        base_sha256=row["base_sha256"],
        options=json.loads(row["options"] or "{}"),
        active=bool(row["active"]),
    )


class Servers:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- records -------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        base_sha256: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> ServerRecord:
        if not _NAME.match(name) or name == LOCAL:
            raise HearthError(
                f"{name!r} cannot name a server: use letters, digits, '.', '_' or '-' "
                f"(and not {LOCAL!r}, which is this computer)"
            )
        url = check_url(url)
        if base_sha256 is not None and not _SHA256.match(base_sha256.lower()):
            raise HearthError("the base model's sha256 must be 64 hexadecimal digits")
        clean = self._check_options(options or {})
        if self.find(name) is not None:
            raise HearthError(f"a server named {name!r} exists; remove it first or pick a name")
        if api_key:
            server_keys.store_key(name, api_key)
        self.store.execute(
            "INSERT INTO engines (name, url, model, has_key, base_sha256, options)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                name,
                url,
                model,
                int(bool(api_key)),
                base_sha256.lower() if base_sha256 else None,
                json.dumps(clean, sort_keys=True),
            ),
        )
        return self.get(name)

    @staticmethod
    def _check_options(options: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in options.items():
            if value is None:
                continue
            kind = OPTION_TYPES.get(key)
            if kind is None:
                raise HearthError(f"unknown server option {key!r}")
            try:
                clean[key] = kind(value)
            except (TypeError, ValueError):
                raise HearthError(f"server option {key} must be a {kind.__name__}") from None
        return clean

    def list(self) -> list[ServerRecord]:
        return [_record(r) for r in self.store.query("SELECT * FROM engines ORDER BY name")]

    def find(self, name: str) -> ServerRecord | None:
        row = self.store.query_one("SELECT * FROM engines WHERE name = ?", (name,))
        return None if row is None else _record(row)

    def get(self, name: str) -> ServerRecord:
        found = self.find(name)
        if found is None:
            known = ", ".join([LOCAL] + [r.name for r in self.list()])
            raise HearthError(f"no engine named {name!r} (known: {known})")
        return found

    def remove(self, name: str) -> None:
        record = self.get(name)
        self.store.execute("DELETE FROM engines WHERE id = ?", (record.id,))
        server_keys.delete_key(name)
        if record.active:
            self.sync_guard()

    def api_key(self, record: ServerRecord) -> str | None:
        return server_keys.load_key(record.name) if record.has_key else None

    # -- which engine answers ------------------------------------------------------------------
    def active(self) -> ServerRecord | None:
        row = self.store.query_one("SELECT * FROM engines WHERE active = 1")
        return None if row is None else _record(row)

    def use(self, name: str | None) -> ServerRecord | None:
        """Make `name` the engine that answers; None or 'local' goes back to fully local."""
        record = None if name in (None, LOCAL) else self.get(str(name))
        with self.store.transaction() as conn:
            conn.execute("UPDATE engines SET active = 0 WHERE active = 1")
            if record is not None:
                conn.execute("UPDATE engines SET active = 1 WHERE id = ?", (record.id,))
        self.sync_guard()
        return self.active()

    def sync_guard(self, also: ServerRecord | None = None) -> set[str]:
        """Allow exactly the host of the server in use (and `also`, for a test the user asked
        for); everything else stays refused."""
        return allow_only(self.active(), also)

    @contextlib.contextmanager
    def reaching(self, record: ServerRecord) -> Iterator[None]:
        """The guard lets `record`'s host through for the block (testing a server not in use)."""
        self.sync_guard(also=record)
        try:
            yield
        finally:
            self.sync_guard()


def what_leaves(store: Store) -> str | None:
    """For the privacy page: what leaves this computer now, and to where (None: nothing)."""
    record = Servers(store).active()
    if record is None:
        return None
    return f"your prompts, recalled memories and preferences, to {record.name} ({record.host})"
