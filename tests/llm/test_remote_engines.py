"""Servers the user adds: consent, the network guard, the API key's home, the CLI, and a turn
through the assistant that the server breaks off (the partial answer is kept)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main as cli_main
from app.errors import HearthError
from app.llm import server_keys
from app.llm.servers import Servers
from app.privacy import guard
from app.settings import Settings, save_settings
from app.store import Store, open_store
from tests.llm.remote_server import LlamaServer

ALIAS = "smollm2"
BASE = "c" * 64
# A second name for the same model, standing for one that carries the user's adapter; its
# name reports the base model's sha256, as Ollama names model files.
AHOY = f"ahoy@sha256-{BASE}"
HOME_SERVER = "http://192.0.2.10:8080"  # TEST-NET-1: never routed, never resolved


def connect(host: str, port: int = 8080) -> bool:
    return guard.decide("socket.connect", (None, (host, port)))[0]


def lookup(host: str) -> bool:
    return guard.decide("socket.getaddrinfo", (host, 443))[0]


@pytest.fixture(autouse=True)
def fully_local_after() -> Iterator[None]:
    yield
    guard.disallow_all()


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store() as opened:
        yield opened


@pytest.fixture(scope="module")
def server(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(
        [
            {"model": str(default_model), "model_alias": ALIAS},
            {"model": str(default_model), "model_alias": AHOY},
        ],
        tmp_path_factory.mktemp("srv"),
    )
    yield srv
    srv.stop()


def test_the_guard_lets_through_exactly_the_server_in_use(store: Store) -> None:
    servers = Servers(store)
    assert not connect("192.0.2.10")
    servers.add("desk", HOME_SERVER)
    assert not connect("192.0.2.10"), "adding a server is not yet using it"
    servers.use("desk")
    assert connect("192.0.2.10") and lookup("192.0.2.10")
    for other in ("192.0.2.11", "8.8.8.8", "example.com", "2001:db8::1"):
        assert not connect(other) and not lookup(other), other
    assert connect("127.0.0.1") and lookup("localhost")
    servers.use("local")
    assert not connect("192.0.2.10")
    assert guard.allowed_hosts() == set()


def test_removing_the_server_in_use_closes_the_door(store: Store) -> None:
    servers = Servers(store)
    servers.add("desk", HOME_SERVER)
    servers.use("desk")
    servers.remove("desk")
    assert not connect("192.0.2.10")
    assert servers.active() is None


def test_testing_a_server_not_in_use_opens_only_for_the_test(store: Store) -> None:
    servers = Servers(store)
    servers.add("desk", HOME_SERVER)
    with servers.reaching(servers.get("desk")):
        assert connect("192.0.2.10")
    assert not connect("192.0.2.10")


def test_the_api_key_never_enters_the_database(store: Store, hearth_home: Path) -> None:
    servers = Servers(store)
    record = servers.add("desk", HOME_SERVER, api_key="sk-secret-123")
    assert record.has_key and servers.api_key(record) == "sk-secret-123"
    path = server_keys.key_file()
    assert path.is_relative_to(hearth_home)  # HEARTH_HOME set: the keyring is left alone
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for db_file in store.path.parent.glob(store.path.name + "*"):
        assert b"sk-secret-123" not in db_file.read_bytes()
    servers.remove("desk")
    assert server_keys.load_key("desk") is None


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("local", HOME_SERVER, "cannot name a server"),
        ("my desk", HOME_SERVER, "cannot name a server"),
        ("desk", "192.0.2.10:8080", "not a server address"),
        ("desk", "ftp://192.0.2.10", "not a server address"),
        ("desk", "http://192.0.2.10:port", "not a server address"),
    ],
)
def test_bad_servers_are_refused_plainly(store: Store, name: str, url: str, message: str) -> None:
    with pytest.raises(HearthError, match=message):
        Servers(store).add(name, url)
    assert Servers(store).list() == []


def test_cli_add_list_test_use_remove(
    server: LlamaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_KEY", "sk-not-needed")
    assert cli_main(["engines", "add", "desk", server.url, "--api-key-env", "DESK_KEY"]) == 0
    out = capsys.readouterr().out
    assert "your prompts, recalled memories and preferences are sent to 127.0.0.1" in out
    assert cli_main(["engines", "test", "desk", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"] == [ALIAS, AHOY]
    assert cli_main(["engines", "use", "desk"]) == 0
    capsys.readouterr()
    assert cli_main(["engines", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["active"]) for r in rows] == [("local", False), ("desk", True)]
    assert rows[1]["api_key"] is True and "sk-not-needed" not in json.dumps(rows)
    assert cli_main(["engines", "remove", "desk"]) == 0
    assert "local model answers again" in capsys.readouterr().out
    assert cli_main(["engines", "test", "desk"]) == 2
    assert "no engine named 'desk'" in capsys.readouterr().err


def test_cli_test_of_a_server_that_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.llm.remote_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert cli_main(["engines", "add", "desk", url]) == 0
    assert cli_main(["engines", "test", "desk"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach desk") and "Traceback" not in err


def test_chat_with_engine_answers_from_the_server(
    server: LlamaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    save_settings(Settings(memory_enabled=False))
    assert cli_main(["engines", "add", "desk", server.url]) == 0
    capsys.readouterr()
    argv = ["chat", "Say hello.", "--engine", "desk", "--json", "--max-tokens", "8"]
    assert cli_main([*argv, "--temperature", "0"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["response"].strip() and answer["tokens"] > 0
    with open_store() as store:
        row = store.query_one("SELECT model FROM messages WHERE role = 'assistant'")
        assert row is not None and row["model"] == ALIAS  # the server's model answered
        assert Servers(store).active() is None  # --engine is for this command only
    assert cli_main(["chat", "Hi", "--engine", "attic"]) == 2
    assert "no engine named 'attic' (known: local, desk)" in capsys.readouterr().err


def test_a_turn_the_server_breaks_off_keeps_the_partial_answer(
    default_model: Path, tmp_path: Path
) -> None:
    from app.assistant import Failed, Token
    from app.core import Core
    from app.llm.remote_setup import choose

    save_settings(Settings(memory_enabled=False, max_tokens=400, temperature=0.0))
    srv = LlamaServer([{"model": str(default_model), "model_alias": ALIAS}], tmp_path)
    core = Core.open(load_model=False)
    try:
        Servers(core.store).add("desk", srv.url, options={"retries": 0})
        answering = choose(core, "desk")
        assert core.assistant.engine is answering.engine and answering.remote
        conversation = core.conversations.create()
        tokens: list[str] = []
        failures: list[str] = []
        for event in core.assistant.send(conversation, "Write a long story about a lighthouse."):
            if isinstance(event, Token):
                tokens.append(event.text)
                if len(tokens) == 3:
                    srv.kill()
            elif isinstance(event, Failed):
                failures.append(event.message)
        assert len(failures) == 1 and "stopped answering mid-reply" in failures[0]
        kept = [m for m in core.conversations.messages(conversation) if m.role == "assistant"]
        assert len(kept) == 1 and kept[0].content == "".join(tokens) and len(tokens) >= 3
        assert kept[0].meta["cut_off"] is True
        choose(core, "local")
        assert core.assistant.engine is core.engine
    finally:
        core.close()
        srv.stop()


def test_what_leaves_names_the_server_in_use(store: Store) -> None:
    from app.llm.servers import what_leaves

    servers = Servers(store)
    servers.add("desk", HOME_SERVER)
    assert what_leaves(store) is None  # added, not in use: nothing leaves
    servers.use("desk")
    assert what_leaves(store) == (
        "your prompts, recalled memories and preferences, to desk (192.0.2.10)"
    )
    servers.use("local")
    assert what_leaves(store) is None


def test_the_adapter_follows_the_users_choice_reply_by_reply(server: LlamaServer) -> None:
    from app.adapters.versions import Versions
    from app.core import Core
    from app.llm.remote_setup import choose

    save_settings(Settings(memory_enabled=False))
    hello = [{"role": "user", "content": "Say hello."}]
    core = Core.open(load_model=False)
    try:
        versions = Versions(core.store)
        mine = versions.add("ahoy-1", Path("ahoy-1.gguf"), {"base": {"sha256": BASE}})
        servers = Servers(core.store)
        servers.add("desk", server.url, base_sha256=BASE, options={"adapter_model": AHOY})
        answering = choose(core, "desk", remember=False)
        engine = answering.engine

        def reply() -> str:
            assert engine.generate_text(hello, max_tokens=4, temperature=0).strip()
            return str(engine.model_info.name)

        assert reply() == ALIAS and answering.plan and not answering.plan.applies
        versions.activate(mine, 1.0)
        assert reply() == AHOY and answering.plan.applies  # the very next reply
        versions.deactivate()
        assert reply() == ALIAS and not answering.plan.applies

        # An adapter for another base, on a server declared (wrongly) to run that base: the
        # hash the server reports wins, and the model that carries the adapter is not asked.
        other = "e" * 64
        theirs = versions.add("other-1", Path("other-1.gguf"), {"base": {"sha256": other}})
        versions.activate(theirs, 1.0)
        servers.add("liar", server.url, base_sha256=other, options={"adapter_model": AHOY})
        answering = choose(core, "liar", remember=False)
        engine = answering.engine
        assert reply() == ALIAS and answering.plan and not answering.plan.applies
        assert "liar runs another base model" in answering.plan.message
    finally:
        core.close()


def test_with_an_os_keyring_the_key_lives_there_and_not_in_a_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Ring(KeyringBackend):  # an OS keyring held in memory: none runs on a test machine
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.kept: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.kept.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.kept[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.kept.pop((service, username), None)

    ring = Ring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    monkeypatch.setattr(server_keys, "_keyring_allowed", lambda: True)
    try:
        servers = Servers(store)
        record = servers.add("desk", HOME_SERVER, api_key="sk-secret-123")
        assert ring.kept == {(server_keys.SERVICE, "desk"): "sk-secret-123"}
        assert not server_keys.key_file().exists()
        assert servers.api_key(record) == "sk-secret-123"
        servers.remove("desk")
        assert ring.kept == {}
    finally:
        keyring.set_keyring(previous)
