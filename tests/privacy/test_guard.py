"""The network guard: its decision function, its log, and an end-to-end refusal in an
empty network namespace (where nothing could leave even if the guard failed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.privacy.guard import decide, is_loopback


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
    logs = [line for line in out.splitlines() if line.startswith("LOG")]
    assert any("203.0.113.7:443" in line and " 0 " in line for line in logs)
    assert any("example.com" in line for line in logs)
    assert all("127.0.0.1" not in line for line in logs)
