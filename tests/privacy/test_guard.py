"""The network guard: its decision function, its log, and an end-to-end refusal in an
empty network namespace (where nothing could leave even if the guard failed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.privacy import guard
from app.privacy.guard import GUARDED_EVENTS, NetworkGuard, decide, is_loopback

FAR = "203.0.113.7"  # TEST-NET-3: never routed, and never dialled outside an empty namespace

# Every audit event CPython (3.11-3.13) raises before a name is resolved or a connection made,
# with the arguments it passes (docs: "Audit events table"), aimed away and at loopback.
EVENTS = {
    "socket.getaddrinfo": ((FAR, 443, 0, 0, 0), ("localhost", 443, 0, 0, 0)),
    "socket.gethostbyname": (("example.com",), ("localhost",)),  # also gethostbyname_ex
    "socket.gethostbyaddr": ((FAR,), ("127.0.0.1",)),
    "socket.getnameinfo": (((FAR, 80),), (("127.0.0.1", 80),)),
    "socket.connect": ((None, (FAR, 443)), (None, ("127.0.0.1", 443))),
    "socket.sendto": ((None, (FAR, 53)), (None, ("::1", 53, 0, 0))),
    "socket.sendmsg": ((None, (FAR, 53)), (None, ("127.0.0.1", 53))),
    "socket.bind": ((None, ("0.0.0.0", 8080)), (None, ("127.0.0.1", 0))),
    "http.client.connect": ((None, "example.com", 80), (None, "localhost", 8080)),
    "urllib.Request": (
        ("https://huggingface.co/x?token=1", None, {}, "GET"),
        ("http://127.0.0.1:8080/v1/models", None, {}, "GET"),
    ),
    "ftplib.connect": ((None, FAR, 21), (None, "127.0.0.1", 21)),
    "smtplib.connect": ((None, "mail.example.com", 25), (None, "localhost", 25)),
    "poplib.connect": ((None, FAR, 110), (None, "localhost", 110)),
    "imaplib.open": ((None, FAR, 143), (None, "localhost", 143)),
    "nntplib.connect": ((None, FAR, 119), (None, "localhost", 119)),
    "telnetlib.Telnet.open": ((None, FAR, 23), (None, "localhost", 23)),
}


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST", b"127.0.0.1"]
)
def test_loopback_is_allowed(host: object) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["93.184.216.34", "10.0.0.1", "192.168.1.1", "example.com", "::2"])
def test_other_destinations_are_refused(host: str) -> None:
    assert not is_loopback(host)


def test_decide_reads_each_event() -> None:
    assert decide("socket.connect", (None, ("127.0.0.1", 80)))[0]
    assert not decide("socket.connect", (None, ("8.8.8.8", 53)))[0]
    assert decide("socket.connect", (None, "/tmp/some.sock"))[0]  # unix socket
    assert not decide("socket.getaddrinfo", ("huggingface.co", 443, 0, 0, 0, 0))[0]
    assert decide("socket.getaddrinfo", ("localhost", 8080, 0, 0, 0, 0))[0]
    assert not decide("socket.sendto", (None, ("1.1.1.1", 53)))[0]


def test_every_guarded_event_has_a_case_here() -> None:
    assert set(EVENTS) == set(GUARDED_EVENTS)


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_each_event_is_refused_away_and_allowed_at_loopback(event: str) -> None:
    away, local = EVENTS[event]
    allowed, destination = decide(event, away)
    assert not allowed and destination
    assert "token" not in destination  # a URL's query is not logged
    assert decide(event, local)[0]


def test_local_sockets_and_file_urls_stay_allowed() -> None:
    import socket

    unix = socket.socket(socket.AF_UNIX)
    try:
        assert decide("socket.connect", (unix, "/run/x.sock"))[0]
        assert decide("socket.bind", (unix, b"\0abstract"))[0]
    finally:
        unix.close()
    assert decide("urllib.Request", ("file:///etc/hosts", None, {}, None))[0]
    assert decide("socket.getaddrinfo", (None, 0, 0, 0, 0))[0]  # passive: this machine


def test_a_refusal_raises_and_is_recorded_with_its_caller() -> None:
    seen: list[guard.Attempt] = []
    hook = NetworkGuard()
    hook.recorder = seen.append
    with pytest.raises(PermissionError, match="blocked and logged"):
        hook.hook("socket.gethostbyaddr", (FAR,))
    hook.hook("socket.gethostbyaddr", ("127.0.0.1",))  # allowed: nothing recorded
    hook.hook("os.listdir", ("/",))  # not a network event
    (attempt,) = seen
    assert attempt.event == "socket.gethostbyaddr" and attempt.destination == FAR
    assert not attempt.allowed and "test_guard.py" in attempt.caller


def test_the_user_allow_list_still_lets_a_configured_server_through() -> None:
    try:
        guard.allow_host("192.0.2.10")
        assert decide("socket.connect", (None, ("192.0.2.10", 8080)))[0]
        assert decide("socket.gethostbyaddr", ("192.0.2.10",))[0]
        assert not decide("socket.connect", (None, (FAR, 8080)))[0]
    finally:
        guard.disallow_all()
    assert not decide("socket.connect", (None, ("192.0.2.10", 8080)))[0]


def test_a_process_without_the_store_logs_a_refusal_to_the_database(hearth_home: Path) -> None:
    from app.store import open_store

    record = guard.lazy_store_recorder()  # what the training child installs
    assert not (hearth_home / "data" / "hearth.db").exists()  # nothing opened until needed
    record(guard.Attempt("socket.gethostbyname", "example.org", False, "train_job.py:1 in x"))
    with open_store() as store:
        row = store.query_one("SELECT event, destination, allowed FROM network_log")
        assert tuple(row) == ("socket.gethostbyname", "example.org", 0)


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_available(), reason="needs root and unshare --net")
def test_guard_blocks_and_logs_inside_an_empty_namespace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = textwrap.dedent(
        """
        import socket, threading
        from app.core import Core
        core = Core.open(load_model=False)
        # loopback works: a listener and a client on 127.0.0.1
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=2)
        client.close(); server.close()
        for target in [("203.0.113.7", 443)]:
            s = socket.socket()
            try:
                s.connect(target)
                print("CONNECTED")
            except PermissionError as exc:
                print("BLOCKED", exc)
            finally:
                s.close()
        try:
            socket.getaddrinfo("example.com", 443)
            print("RESOLVED")
        except PermissionError:
            print("BLOCKED-DNS")
        import http.client, urllib.request
        lookups = [
            lambda: socket.gethostbyname("example.org"),
            lambda: socket.gethostbyname_ex("example.net"),
            lambda: socket.gethostbyaddr("203.0.113.8"),
            lambda: socket.getnameinfo(("203.0.113.9", 80), 0),
            lambda: http.client.HTTPConnection("203.0.113.10", 80, timeout=2).connect(),
            lambda: urllib.request.urlopen("http://203.0.113.11/x", timeout=2),
        ]
        for call in lookups:
            try:
                call()
                print("LEAKED")
            except PermissionError:
                print("BLOCKED-MORE")
            except OSError as exc:  # a refusal wrapped by urllib
                print("BLOCKED-MORE" if "blocked" in str(exc) else f"LEAKED {exc}")
        rows = core.store.query("SELECT event, destination, allowed, caller FROM network_log")
        for r in rows:
            print("LOG", r["event"], r["destination"], r["allowed"], r["caller"])
        core.close()
        """
    )
    env = {"HEARTH_HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            'ip link set lo up 2>/dev/null; exec "$0" -c "$1"',
            sys.executable,
            script,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "BLOCKED" in out and "CONNECTED" not in out
    assert "BLOCKED-DNS" in out and "RESOLVED" not in out
    assert out.count("BLOCKED-MORE") == 6 and "LEAKED" not in out, out
    logs = [line for line in out.splitlines() if line.startswith("LOG")]
    assert any("203.0.113.7:443" in line and " 0 " in line for line in logs)
    assert any("example.com" in line for line in logs)
    for name in ("example.org", "example.net", "203.0.113.8", "203.0.113.9", "203.0.113.10"):
        assert any(name in line for line in logs), name
    assert all("127.0.0.1" not in line for line in logs)


def test_installing_again_writes_nothing_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every `Core.open` installs the guard, worker threads' included: a setenv while another
    thread reads the environment (llama.cpp, torch and Qt do) can crash the process."""
    import os

    guard.set_offline_env()  # what each install does first (the rest, once per process)
    written: list[str] = []
    monkeypatch.setattr(os, "putenv", lambda key, _value: written.append(key))
    guard.set_offline_env()
    assert written == []
