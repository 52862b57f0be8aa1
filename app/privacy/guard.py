"""The network guard: a Python audit hook that refuses every non-loopback destination.

Hooks on `socket.connect`, `socket.sendto`, `socket.sendmsg` and `socket.getaddrinfo` see the
destination before any packet is sent; a refused one raises PermissionError inside the call and
is recorded (time, event, destination, caller) in the database's `network_log`. Audit hooks
cannot be removed once installed, so the guard is installed once per process and its decision
function is what tests exercise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_GUARDED = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo"}


@dataclass(frozen=True)
class Attempt:
    event: str
    destination: str
    allowed: bool
    caller: str


def is_loopback(host: Any) -> bool:
    """True for loopback addresses and names, and for local (unix) sockets."""
    if host is None:
        return True  # getaddrinfo(None, port): the local host's passive address
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


# Destinations the user added explicitly (a server of their own); nothing else is allowed.
_allowed_hosts: set[str] = set()
_allowed_lock = threading.Lock()


def _norm_host(host: Any) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return str(host).strip().strip("[]").lower()


def allow_host(host: str) -> None:
    """Let connections to this one host (a name or an address the user configured) through.

    A name is allowed together with the addresses it resolves to at the moment it is allowed,
    so the connect that follows the lookup is let through too.
    """
    import socket

    name = _norm_host(host)
    with _allowed_lock:
        _allowed_hosts.add(name)  # first, so that the lookup below is not itself refused
    found: set[str] = set()
    with contextlib.suppress(OSError, UnicodeError):
        for info in socket.getaddrinfo(name, None):
            found.add(_norm_host(info[4][0]))
    with _allowed_lock:
        _allowed_hosts.update(found)


def disallow_all() -> None:
    """Back to fully local: only loopback is allowed."""
    with _allowed_lock:
        _allowed_hosts.clear()


def allowed_hosts() -> set[str]:
    with _allowed_lock:
        return set(_allowed_hosts)


def _host_ok(host: Any) -> bool:
    if is_loopback(host):
        return True
    with _allowed_lock:
        return bool(_allowed_hosts) and _norm_host(host).split("%")[0] in _allowed_hosts


def decide(event: str, args: tuple[Any, ...]) -> tuple[bool, str]:
    """Whether this socket event may go ahead, and the destination it names."""
    if event == "socket.getaddrinfo":
        host = args[0] if args else None
        return _host_ok(host), f"{host}:{args[1] if len(args) > 1 else ''}"
    address = args[1] if len(args) > 1 else None
    if event == "socket.sendmsg":
        address = args[-1] if args else None
    if address is None or isinstance(address, (str, bytes)):
        return True, str(address)  # unix sockets and connected sends stay on this machine
    if isinstance(address, tuple) and address:
        return _host_ok(address[0]), ":".join(str(a) for a in address[:2])
    return False, repr(address)


class NetworkGuard:
    def __init__(self) -> None:
        self.recorder: Callable[[Attempt], None] | None = None
        self.pending: list[Attempt] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in _GUARDED or getattr(self._local, "inside", False):
            return
        allowed, destination = decide(event, args)
        if allowed:
            return
        self._local.inside = True
        try:
            attempt = Attempt(event, destination, False, _caller())
            self._record(attempt)
        finally:
            self._local.inside = False
        raise PermissionError(
            f"Hearth works offline: a connection to {destination} was blocked and logged"
        )

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self.pending.append(attempt)
            recorder = self.recorder
            if recorder is None:
                return
            pending, self.pending = self.pending, []
        for item in pending:
            # Logging must not turn a refusal into a crash.
            with contextlib.suppress(Exception):
                recorder(item)


_guard: NetworkGuard | None = None


def install(recorder: Callable[[Attempt], None] | None = None) -> NetworkGuard:
    """Install the guard once per process (and set offline flags); later calls set the recorder."""
    global _guard
    set_offline_env()
    if _guard is None:
        _guard = NetworkGuard()
        sys.addaudithook(_guard.hook)
    if recorder is not None:
        _guard.recorder = recorder
        with _guard._lock:
            pending, _guard.pending = _guard.pending, []
        for item in pending:
            recorder(item)
    return _guard


def set_offline_env() -> None:
    """Model hubs offline before any ML import: no code path may download at run time."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[key] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def store_recorder(store: Any) -> Callable[[Attempt], None]:
    def record(attempt: Attempt) -> None:
        store.execute(
            "INSERT INTO network_log(event, destination, allowed, caller) VALUES(?,?,?,?)",
            (attempt.event, attempt.destination, int(attempt.allowed), attempt.caller),
        )

    return record


def _caller() -> str:
    frames = traceback.extract_stack(limit=12)[:-3]
    for frame in reversed(frames):
        if "/socket.py" not in frame.filename and "guard.py" not in frame.filename:
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown"
