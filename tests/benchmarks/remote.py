"""The remote engine's cost: Hearth's RemoteEngine against plain httpx, same server and request.

llama-cpp-python's OpenAI-compatible server runs the default model on loopback (1 thread). Both
clients send the same greedy request for the same number of tokens, interleaved round by round;
tokens/s counts decode only (first token to last), time to first token counts from the call.
`ratio` and `ttft_overhead_ms` are medians over rounds of the paired figures.
Prints one JSON object: `remote_tok_s`, `direct_tok_s`, `ratio` (target >= 0.95),
`ttft_overhead_ms` (target <= 50).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from app.llm.engine import GenerationStats
from app.llm.models import packaged_default_model
from app.llm.remote import RemoteEngine
from app.settings.model import DEFAULT_SYSTEM_PROMPT
from tests.llm.remote_server import LlamaServer

PROMPT = "Write a short paragraph about autumn in the mountains."
MESSAGES = [
    {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
    {"role": "user", "content": PROMPT},
]
ALIAS = "smollm2"


def remote_run(engine: RemoteEngine, tokens: int) -> tuple[float, float, int]:
    stats = GenerationStats()
    for _ in engine.chat(MESSAGES, max_tokens=tokens, temperature=0.0, seed=0, stats=stats):
        pass
    return stats.tok_s, stats.first_token_s, stats.tokens


def direct_run(client: httpx.Client, tokens: int) -> tuple[float, float, int]:
    body = {
        "model": ALIAS,
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": tokens,
        "temperature": 0.0,
        "seed": 0,
    }
    first = last = 0.0
    count = 0
    start = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                now = time.perf_counter() - start
                if count == 0:
                    first = now
                last = now
                count += 1
    tok_s = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return tok_s, first, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    workdir = Path(os.environ["HEARTH_HOME"]) / "server"
    server = LlamaServer([{"model": str(packaged_default_model()), "model_alias": ALIAS}], workdir)
    engine = RemoteEngine(server.url, name="bench")
    client = httpx.Client(base_url=server.url, timeout=120, trust_env=False)
    try:
        engine.wait_loaded()  # the model list is read once, as the app does before a turn
        remote_run(engine, args.tokens)  # warm both (the server's prompt cache included)
        direct_run(client, args.tokens)
        remote, direct = [], []
        for number in range(args.rounds):
            # Each round runs both back to back, in alternating order, so that the load of a
            # shared machine falls on both alike; the ratio is the median of the rounds' ratios.
            if number % 2:
                direct.append(direct_run(client, args.tokens))
                remote.append(remote_run(engine, args.tokens))
            else:
                remote.append(remote_run(engine, args.tokens))
                direct.append(direct_run(client, args.tokens))
    finally:
        engine.close()
        client.close()
        server.stop()
    remote_tok_s = statistics.median(r[0] for r in remote)
    direct_tok_s = statistics.median(d[0] for d in direct)
    ratio = statistics.median(r[0] / d[0] for r, d in zip(remote, direct, strict=True) if d[0])
    ttft_overhead = statistics.median(r[1] - d[1] for r, d in zip(remote, direct, strict=True))
    print(
        json.dumps(
            {
                "remote_tok_s": round(remote_tok_s, 2),
                "direct_tok_s": round(direct_tok_s, 2),
                "ratio": round(ratio, 4),
                "ttft_overhead_ms": round(ttft_overhead * 1000, 2),
                "remote_ttft_ms": round(statistics.median(r[1] for r in remote) * 1000, 2),
                "direct_ttft_ms": round(statistics.median(d[1] for d in direct) * 1000, 2),
                "tokens": [r[2] for r in remote] + [d[2] for d in direct],
                "rounds": args.rounds,
                "threads": 1,
                "remote_runs": [round(r[0], 2) for r in remote],
                "direct_runs": [round(d[0], 2) for d in direct],
            }
        )
    )


if __name__ == "__main__":
    main()
