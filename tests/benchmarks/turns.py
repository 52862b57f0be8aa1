"""Does a long conversation stay fast? Time to first token at turn 1 and at turn 20.

One conversation of 20 turns through Hearth's own turn (memory on, extraction on, real
answers), each message sent as soon as the previous answer ends, so memory extraction of one
turn is still running when the next begins. A follow-up should cost only its new tokens: the
ratio of the two times to first token is the figure (target <= 1.3). Also reported: prompt
tokens the engine evaluated at each turn against the prompt's length.
Prints one JSON object. `--turns N --max-tokens N` for a short run.
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

from app.assistant import Done, Token
from app.core import Core
from app.llm.llama_loader import free_cores

MESSAGES = [
    "I spent the weekend painting our kitchen a pale green.",
    "What colour goes well with pale green?",
    "My brother Tomas is a carpenter in Vilnius.",
    "Suggest a gift for a carpenter.",
    "Our neighbours just adopted two rescue greyhounds.",
    "How long do greyhounds usually live?",
    "I finally finished reading War and Peace last night.",
    "Who wrote War and Peace?",
    "We are planning a trip to the Azores in May.",
    "What should I pack for the Azores?",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()

    core = Core.open(load_model=True, n_threads=free_cores())
    core.settings.memory_enabled = True
    core.settings.max_tokens = args.max_tokens
    core.settings.temperature = 0.0
    core.engine.wait_loaded()
    # Warm the model and the embedder in a conversation of their own, as a running app is, and
    # leave one memory: a user's Hearth has some, so recall works at turn 1 as at turn 20.
    for _ in core.assistant.send(None, "Remember that my favourite tea is jasmine."):
        pass
    core.assistant.wait_idle(timeout=300)
    core.memory.embedder.embed(["warm"])

    sent: list[list[dict[str, str]]] = []
    chat = core.engine.chat

    def recording(messages: list[dict[str, str]], **kwargs: object) -> object:
        sent.append(messages)
        return chat(messages, **kwargs)  # type: ignore[arg-type]

    core.engine.chat = recording  # type: ignore[method-assign]
    conv = core.conversations.create()
    ttft: list[float] = []
    evaluated: list[int] = []
    prompt: list[int] = []
    for i in range(args.turns):
        text = MESSAGES[i % len(MESSAGES)]
        started = time.perf_counter()
        first = None
        for event in core.assistant.send(conv, text):
            if isinstance(event, Token) and first is None:
                first = time.perf_counter() - started
            elif isinstance(event, Done):
                evaluated.append(event.prompt_evaluated)
                prompt.append(event.prompt_tokens)
        ttft.append(first or 0.0)
    core.assistant.wait_idle(timeout=300)
    stored = core.conversations.messages(conv)
    raw1, raw20 = raw_ttft(core, sent[0][:1], sent[0]), raw_ttft(core, sent[-2], sent[-1], stored)
    result = {
        "turns": args.turns,
        "ttft_turn1_s": round(ttft[0], 4),
        "ttft_turn20_s": round(ttft[-1], 4),
        "ratio": round(ttft[-1] / ttft[0], 3) if ttft[0] else None,
        # raw llama-cpp-python, same model, threads and prompts, its cache holding the previous
        # turn: what attending over a longer context costs by itself
        "raw_ttft_turn1_s": round(raw1, 4),
        "raw_ttft_turn20_s": round(raw20, 4),
        "raw_ratio": round(raw20 / raw1, 3),
        "ttft_median_s": round(statistics.median(ttft), 4),
        "prompt_tokens_last": prompt[-1],
        "evaluated_tokens_last": evaluated[-1],
        "evaluated_tokens_per_turn": evaluated,
        "background_generations": core.engine.background_generations,
        "memories": core.memory.count(),
        "threads": core.engine.n_threads,
    }
    core.close()
    print(json.dumps(result))


def raw_ttft(
    core: Core,
    before: list[dict[str, str]],
    messages: list[dict[str, str]],
    stored: list[object] | None = None,
) -> float:
    """Time to first token of `messages` on a fresh llama-cpp-python Llama whose cache holds
    `before` (plus the stored answer to it, as after a real turn); median of 3."""
    from app.llm.llama_loader import load_llama

    info = core.engine.model_info
    assert info is not None
    llama = load_llama(info.path, n_ctx=core.engine.n_ctx, n_threads=core.engine.n_threads)
    history = list(before)
    if stored is not None:
        history.append({"role": "assistant", "content": str(getattr(stored[-3], "content", ""))})
    times: list[float] = []
    for _ in range(3):
        llama.reset()
        for _chunk in llama.create_chat_completion(messages=history, max_tokens=1, stream=True):
            pass
        started = time.perf_counter()
        for chunk in llama.create_chat_completion(
            messages=messages, max_tokens=4, temperature=0.0, top_k=1, stream=True
        ):
            if chunk["choices"][0]["delta"].get("content"):
                times.append(time.perf_counter() - started)
                break
    llama.close()
    return statistics.median(times)


if __name__ == "__main__":
    main()
