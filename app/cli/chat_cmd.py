"""`hearth chat`: one answer streamed to stdout, or a batch of prompts as JSON lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.assistant import Done, Failed, Opened, Token
from app.cli.common import open_core, print_json, read_jsonl
from app.errors import HearthError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("chat", help="answer a prompt with the local model")
    parser.add_argument("prompt", nargs="?", help="what to ask")
    parser.add_argument("--batch", type=Path, help='JSONL file of {"prompt": ...} lines')
    parser.add_argument("--json", action="store_true", help="print JSON objects")
    parser.add_argument("--max-tokens", type=int, help="longest answer, in tokens")
    parser.add_argument("--temperature", type=float, help="0 for greedy")
    parser.add_argument("--conversation", type=int, help="continue this conversation id")
    parser.add_argument(
        "--engine", help="the engine that answers this time: 'local' or a server you added"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.prompt) == bool(args.batch):
        raise HearthError("give either a PROMPT or --batch FILE.jsonl")
    prompts = [args.prompt] if args.prompt else _batch_prompts(args.batch)
    if args.engine:
        _check_engine(args.engine)  # a wrong name fails before any model loads
    core = open_core(load_model=True)
    try:
        if args.max_tokens:
            core.settings.max_tokens = args.max_tokens
        if args.temperature is not None:
            core.settings.temperature = args.temperature
        if args.engine:
            from app.llm.remote_setup import choose

            answering = choose(core, args.engine, remember=False)
            if answering.plan is not None and answering.plan.message:
                print(answering.plan.message, file=sys.stderr)
        core.engine.wait_loaded()
        for prompt in prompts:
            # Without --conversation each prompt opens a new one, once the prompt is accepted.
            conv = args.conversation if args.prompt and args.conversation else None
            if conv is not None and core.conversations.get(conv) is None:
                raise HearthError(f"there is no conversation {conv}")
            _answer(core, conv, prompt, args)
    finally:
        core.close()
    return 0


def _check_engine(name: str) -> None:
    from app.llm.base import LOCAL
    from app.llm.servers import Servers
    from app.store import open_store

    if name != LOCAL:
        with open_store() as store:
            Servers(store).get(name)


def _batch_prompts(path: Path) -> list[str]:
    prompts = []
    for number, obj in read_jsonl(path):
        prompt = obj.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise HearthError(f'{path}:{number}: needs a non-empty "prompt" string')
        prompts.append(prompt)
    return prompts


def _answer(core: Any, conversation_id: int | None, prompt: str, args: argparse.Namespace) -> None:
    parts: list[str] = []
    done: Done | None = None
    for event in core.assistant.send(conversation_id, prompt):
        if isinstance(event, Opened):
            conversation_id = event.conversation_id
        elif isinstance(event, Token):
            parts.append(event.text)
            if not args.json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        elif isinstance(event, Failed):
            raise HearthError(event.message)
        elif isinstance(event, Done):
            done = event
    if not args.json:
        sys.stdout.write("\n")
        return
    result: dict[str, Any] = {
        "prompt": prompt,
        "response": "".join(parts),
        "tokens": done.tokens if done else 0,
        "tok_s": round(done.tok_s, 2) if done else 0.0,
        "conversation_id": conversation_id,
    }
    print_json(result)
