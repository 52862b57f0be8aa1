"""The network guard: a Python audit hook that refuses every non-loopback destination.

Every audit event CPython raises before a name is resolved or a connection is made (socket
connect/sendto/sendmsg/bind, getaddrinfo, gethostbyname(_ex), gethostbyaddr, getnameinfo, and
the connect events of http.client, urllib, ftplib, smtplib, poplib, imaplib, nntplib, telnetlib)
is decided before any packet is sent; a refused one raises PermissionError inside the call and
is recorded (time, event, destination, caller) in the database's `network_log`. Audit hooks
cannot be removed once installed, so the guard is installed once per process and its decision
function is what tests exercise. Native code (llama.cpp, torch) does not raise audit events:
a Python-level guard cannot see it, which the privacy page says plainly.
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
# Name lookups: the first argument is the name or address that would be asked about.
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}
# Socket calls whose last argument is the address (connect, send to, listen on).
_ADDRESSED = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}
# Library connects, raised before their own lookup: (self, host, port).
_LIBRARY_CONNECTS = {
    "http.client.connect",
    "ftplib.connect",
    "imaplib.open",
    "nntplib.connect",
    "poplib.connect",
    "smtplib.connect",
    "telnetlib.Telnet.open",
}
GUARDED_EVENTS = frozenset(
    _LOOKUPS | _ADDRESSED | _LIBRARY_CONNECTS | {"socket.getnameinfo", "urllib.Request"}
)
_GUARDED = GUARDED_EVENTS


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
    """Whether this audited event may go ahead, and the destination it names."""
    if event in _LOOKUPS:
        host = args[0] if args else None
        port = f":{args[1]}" if event == "socket.getaddrinfo" and len(args) > 1 else ""
        return _host_ok(host), f"{host}{port}"
    if event == "socket.getnameinfo":
        return _address_ok(args[0] if args else None)
    if event in _LIBRARY_CONNECTS:
        host = args[1] if len(args) > 1 else None
        return _host_ok(host), f"{host}:{args[2] if len(args) > 2 else ''}"
    if event == "urllib.Request":
        return _url_ok(args[0] if args else "")
    if event in _ADDRESSED:
        sock = args[0] if args else None
        if getattr(sock, "family", None) in _LOCAL_FAMILIES:
            return True, str(args[-1] if args else "")  # unix and netlink stay on this machine
        address = args[1] if len(args) > 1 else None
        if event == "socket.sendmsg":
            address = args[-1] if args else None
        if event == "socket.bind" and address is None:
            return True, "None"
        return _address_ok(address)
    return True, ""


def _address_ok(address: Any) -> tuple[bool, str]:
    if address is None or isinstance(address, (str, bytes)):
        return True, str(address)  # unix sockets and connected sends stay on this machine
    if isinstance(address, tuple) and address:
        return _host_ok(address[0]), ":".join(str(a) for a in address[:2])
    return False, repr(address)


def _url_ok(url: Any) -> tuple[bool, str]:
    from urllib.parse import urlsplit

    text = url.decode("ascii", "replace") if isinstance(url, bytes) else str(url)
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return False, text[:200]
    if host is None:
        return True, text[:200]  # file: and data: URLs name no host
    return _host_ok(host), text.split("?", 1)[0][:200]


def _local_families() -> frozenset[int]:
    import socket

    names = ("AF_UNIX", "AF_NETLINK")
    return frozenset(int(getattr(socket, n)) for n in names if hasattr(socket, n))


_LOCAL_FAMILIES = _local_families()


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


def install(
    recorder: Callable[[Attempt], None] | None = None, *, tidy: bool = True
) -> NetworkGuard:
    """Install the guard once per process (and set offline flags); later calls set the recorder.

    Every Hearth process installs the guard first, so this is also where it makes its files
    private (umask, modes) and, unless `tidy` is False (the training child), removes leftovers.
    """
    global _guard
    set_offline_env()
    if _guard is None:
        from app import paths
        from app.privacy import hygiene

        if tidy:
            hygiene.at_start()
        else:
            paths.set_private_umask()
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
    """Model hubs offline before any ML import: no code path may download at run time.

    Writes only what is not set yet: `Core.open` runs on worker threads too, and setenv while
    another thread reads the environment (llama.cpp, torch, Qt do) can crash the process."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(key) != "1":
            os.environ[key] = "1"
    for key in ("HF_HUB_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
        if key not in os.environ:
            os.environ[key] = "1"


def store_recorder(store: Any) -> Callable[[Attempt], None]:
    # The log's own start, so that "0 attempts since" names a date.
    with contextlib.suppress(Exception):
        store.execute(
            "INSERT OR IGNORE INTO state(key, value) "
            "VALUES ('network_log_since', strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
        )

    def record(attempt: Attempt) -> None:
        store.execute(
            "INSERT INTO network_log(event, destination, allowed, caller) VALUES(?,?,?,?)",
            (attempt.event, attempt.destination, int(attempt.allowed), attempt.caller),
        )

    return record


def lazy_store_recorder() -> Callable[[Attempt], None]:
    """For processes that do not hold the store (the training child): it is opened on the
    first refused attempt, so a clean run never touches the database."""
    opened: list[Callable[[Attempt], None]] = []

    def record(attempt: Attempt) -> None:
        if not opened:
            from app.store import open_store

            opened.append(store_recorder(open_store()))
        opened[0](attempt)

    return record


# The standard library's own frames between the caller and the event say nothing useful.
_LIBRARY_FILES = ("/socket.py", "/client.py", "/request.py", "/ftplib.py", "/smtplib.py")


def _caller() -> str:
    frames = traceback.extract_stack(limit=16)
    for frame in reversed(frames):
        if not frame.filename.endswith(_LIBRARY_FILES) and frame.filename != __file__:
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown"
