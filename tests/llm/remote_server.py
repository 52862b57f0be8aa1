"""Real servers on loopback for the remote-engine tests and benchmark.

`LlamaServer` runs llama-cpp-python's own OpenAI-compatible server (its `server` extra) in a
child process on a free 127.0.0.1 port, one llama.cpp thread. `SilentServer` accepts
connections and never answers (a server that hangs).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The portable llama.cpp build loads its CPU backend at run time (llama-cpp-python's own
# server does not ask for one), so the server runs after Hearth has loaded it.
_SERVER_MAIN = (
    "import runpy, sys; from app.llm import backend; backend.ensure_loaded(); "
    "sys.argv[0] = 'llama_cpp.server'; "
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)"
)


class LlamaServer:
    def __init__(
        self,
        models: list[dict[str, Any]],
        workdir: Path,
        *,
        api_key: str | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "models": [
                {"n_threads": 1, "n_threads_batch": 1, "n_ctx": 2048, "verbose": False} | m
                for m in models
            ],
        }
        if api_key:
            config["api_key"] = api_key
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"server-{self.port}.json"
        path.write_text(json.dumps(config))
        self.log = workdir / f"server-{self.port}.log"
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        env.pop("CONFIG_FILE", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVER_MAIN, "--config_file", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_up(start_timeout_s)

    def _wait_up(self, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/models", headers=headers, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the server dies as a crash or a power cut would take it."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class SilentServer:
    """Accepts every connection and never answers. With `lists_models` it answers the model
    list, and then a chat never; given `first_words` it also answers a chat with the headers
    and those words, then falls silent (a server that hangs mid-answer)."""

    def __init__(self, first_words: str | None = None, lists_models: bool = False) -> None:
        self.first_words = first_words
        self.lists_models = lists_models or first_words is not None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent-server")
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)
            if self.lists_models:
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while request := conn.recv(65536):
                if request.startswith(b"GET /v1/models"):
                    body = json.dumps({"data": [{"id": "stalling"}]}).encode()
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
                    conn.sendall(head.encode() + body)
                    continue
                if self.first_words is None:
                    return  # the chat is never answered
                chunk = {"choices": [{"delta": {"content": self.first_words}}]}
                event = f"data: {json.dumps(chunk)}\n\n".encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                    + f"{len(event):x}\r\n".encode()
                    + event
                    + b"\r\n"
                )
                return  # and never another byte

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(5)
