"""Decode speed through Hearth's chat path against raw llama-cpp-python, same model and threads.

Both run greedy on the same prompt for the same number of tokens, interleaved, several rounds;
tokens/s counts decode only (first token to last). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
os.environ["HF_HUB_OFFLINE"] = "1"

from app.core import Core
from app.llm.llama_loader import free_cores
from app.llm.models import packaged_default_model
from app.settings.model import DEFAULT_SYSTEM_PROMPT

PROMPT = "Write a short paragraph about autumn in the mountains."
TOKENS = 128
ROUNDS = 5


def raw_tok_s(llama: object, threads: int) -> float:
    messages = [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": PROMPT},
    ]
    first = last = 0.0
    count = 0
    start = time.perf_counter()
    for chunk in llama.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages, max_tokens=TOKENS, temperature=0.0, top_k=1, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            now = time.perf_counter() - start
            if count == 0:
                first = now
            last = now
            count += 1
    llama.reset()  # type: ignore[attr-defined]
    return (count - 1) / (last - first)


def app_tok_s(core: Core) -> float:
    from app.assistant import Done

    conv = core.conversations.create()
    result = 0.0
    for event in core.assistant.send(conv, PROMPT):
        if isinstance(event, Done):
            result = event.tok_s
    core.engine.call(lambda llama: llama.reset())
    return result


def main() -> None:
    import llama_cpp

    threads = free_cores()
    core = Core.open(load_model=True, n_threads=threads)
    core.assistant.memory = None
    core.settings.max_tokens = TOKENS
    core.settings.temperature = 0.0
    core.engine.wait_loaded()
    raw = llama_cpp.Llama(
        model_path=str(packaged_default_model()),
        n_ctx=core.engine.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    app_runs, raw_runs = [], []
    app_tok_s(core)  # warm both
    raw_tok_s(raw, threads)
    for _ in range(ROUNDS):
        app_runs.append(app_tok_s(core))
        raw_runs.append(raw_tok_s(raw, threads))
    app_med, raw_med = statistics.median(app_runs), statistics.median(raw_runs)
    core.close()
    raw.close()
    print(
        json.dumps(
            {
                "app_tok_s": round(app_med, 2),
                "raw_tok_s": round(raw_med, 2),
                "ratio": round(app_med / raw_med, 4),
                "threads": threads,
                "tokens": TOKENS,
                "rounds": ROUNDS,
                "app_runs": [round(x, 2) for x in app_runs],
                "raw_runs": [round(x, 2) for x in raw_runs],
            }
        )
    )


if __name__ == "__main__":
    main()
