"""`hearth engines add|list|remove|test|use`: servers of the user's own that may answer.

Adding a server is consent: what leaves this machine from then on, while it answers, is said
once here and shown on the privacy page. The API key is read from stdin or an environment
variable, never from the command line (it would stay in the shell's history).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from app.cli.common import print_json
from app.errors import HearthError
from app.llm.base import LOCAL
from app.llm.servers import ServerRecord, Servers
from app.store import open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "engines", help="servers of your own that can answer (OpenAI-compatible)"
    )
    sub = parser.add_subparsers(dest="engines_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add a server you own (llama.cpp, Ollama, vLLM ...)")
    add.add_argument("name", help="a short name for it, like 'desktop'")
    add.add_argument("url", help="its address, like http://192.168.1.20:8080")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--api-key-stdin", action="store_true", help="read its API key from stdin")
    key.add_argument("--api-key-env", metavar="VAR", help="read its API key from this variable")
    add.add_argument("--model", help="the model to ask for (default: the server's first)")
    base = add.add_mutually_exclusive_group()
    base.add_argument("--base-sha256", help="sha256 of the model file the server runs")
    base.add_argument(
        "--same-base", action="store_true", help="the server runs the same file as your local model"
    )
    add.add_argument("--adapter-model", help="model name on the server that carries your adapter")
    add.add_argument("--lora-id", type=int, help="llama.cpp server: your adapter's --lora id")
    add.add_argument("--context", type=int, dest="n_ctx", help="the server's context, in tokens")
    add.add_argument("--timeout", type=float, dest="read_timeout_s", help="seconds to wait")
    add.add_argument("--use", action="store_true", help="also make it the engine that answers")
    add.set_defaults(func=_add)

    listing = sub.add_parser("list", help="the local model and your servers")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    remove = sub.add_parser("remove", help="forget a server (and its API key)")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)

    test = sub.add_parser("test", help="connect to a server and list its models")
    test.add_argument("name")
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=_test)

    use = sub.add_parser("use", help=f"choose the engine that answers ('{LOCAL}' or a server)")
    use.add_argument("name")
    use.set_defaults(func=_use)


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise HearthError("no API key on stdin")
        return key
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "").strip()
        if not key:
            raise HearthError(f"the variable {args.api_key_env} is empty or not set")
        return key
    return None


def consent_line(record: ServerRecord) -> str:
    return (
        f"While {record.name} answers, your prompts, recalled memories and preferences are sent "
        f"to {record.host}; conversations, memories and adapters stay on this computer."
    )


def _add(args: argparse.Namespace) -> int:
    with open_store() as store:
        base = args.base_sha256
        if args.same_base:
            from app.llm.models import ModelManager

            base = ModelManager(store).active().sha256
        servers = Servers(store)
        record = servers.add(
            args.name,
            args.url,
            api_key=_api_key(args),
            model=args.model,
            base_sha256=base,
            options={
                "adapter_model": args.adapter_model,
                "lora_id": args.lora_id,
                "n_ctx": args.n_ctx,
                "read_timeout_s": args.read_timeout_s,
            },
        )
        print(f"added {record.name} ({record.url})")
        print(consent_line(record))
        if args.use:
            servers.use(record.name)
            print(f"{record.name} now answers; `hearth engines use {LOCAL}` goes back")
        else:
            print(
                f"`hearth engines test {record.name}` checks it; `--engine {record.name}` uses it"
            )
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_store() as store:
        records = Servers(store).list()
    active = next((r.name for r in records if r.active), LOCAL)
    if args.json:
        print_json({"name": LOCAL, "url": None, "active": active == LOCAL})
        for record in records:
            print_json(record.to_dict())
        return 0
    print(f"{'*' if active == LOCAL else ' '} {LOCAL}  (this computer)")
    for record in records:
        mark = "*" if record.active else " "
        model = f"  model {record.model}" if record.model else ""
        key = "  (API key kept)" if record.has_key else ""
        print(f"{mark} {record.name}  {record.url}{model}{key}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with open_store() as store:
        servers = Servers(store)
        was_active = servers.get(args.name).active
        servers.remove(args.name)
    print(f"removed {args.name}" + (f"; the {LOCAL} model answers again" if was_active else ""))
    return 0


def _test(args: argparse.Namespace) -> int:
    from app.llm.remote_setup import check_server, personal_adapter, plan_adapter

    with open_store() as store:
        servers = Servers(store)
        record = servers.get(args.name)
        models = check_server(servers, record)
        plan = plan_adapter(record, personal_adapter(store), models)
    if args.json:
        adapter = {"applies": plan.applies, "message": plan.message}
        print_json(
            {
                "name": record.name,
                "url": record.url,
                "ok": True,
                "models": models,
                "adapter": adapter,
            }
        )
    else:
        print(f"{record.name} answers at {record.url}; its models:")
        for model in models:
            print(f"  {model}")
        if plan.message:
            print(plan.message)
    return 0


def _use(args: argparse.Namespace) -> int:
    with open_store() as store:
        record = Servers(store).use(args.name)
    if record is None:
        print(f"the {LOCAL} model answers; nothing leaves this computer")
    else:
        print(f"{record.name} answers. {consent_line(record)}")
    return 0
