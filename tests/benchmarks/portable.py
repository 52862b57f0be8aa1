"""Decode speed of the portable llama.cpp build (CPU variant chosen at run time) against a build
compiled for this machine alone (`-march=native`), same model, threads and prompt.

The native build is not part of Hearth: build it once beside the venv and pass its `lib`
folder (`--native-lib DIR`, or `HEARTH_NATIVE_LLAMA_LIB`). Without one, only the portable
figure is printed. Each round runs both builds in fresh child processes, interleaved, so a busy
machine slows both alike. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

TOKENS = 128
ROUNDS = 9

_CHILD = r"""
import json, sys, time
from pathlib import Path
from app.llm import backend
from app.llm.llama_loader import load_llama
from app.llm.models import packaged_default_model
llama = load_llama(packaged_default_model(), n_ctx=512, n_threads=1, probe=False)
prompt = b"Write a short paragraph about autumn in the mountains."
llama.eval(llama.tokenize(prompt, add_bos=True))
count = int(sys.argv[1])
start = time.perf_counter()
for _ in range(count):
    token = llama.sample(temp=0.0)
    llama.eval([token])
seconds = time.perf_counter() - start
info = backend.loaded_info()
print(json.dumps({"tok_s": count / seconds, "variant": info.variant}))
"""


def run_once(lib: str | None) -> dict[str, object]:
    env = dict(os.environ, HEARTH_THREADS="1")
    if lib:
        env["LLAMA_CPP_LIB_PATH"] = lib
    else:
        env.pop("LLAMA_CPP_LIB_PATH", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(TOKENS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--native-lib", default=os.environ.get("HEARTH_NATIVE_LLAMA_LIB"))
    args = parser.parse_args()
    portable: list[float] = []
    native: list[float] = []
    variant = "unknown"
    for round_no in range(ROUNDS):
        # Alternate which build goes first, so neither always gets the quieter slot.
        order = [None, args.native_lib] if round_no % 2 == 0 else [args.native_lib, None]
        for lib in order:
            if lib is None:
                got = run_once(None)
                portable.append(float(got["tok_s"]))  # type: ignore[arg-type]
                variant = str(got["variant"])
            elif lib:
                native.append(float(run_once(lib)["tok_s"]))  # type: ignore[arg-type]
    out: dict[str, object] = {
        "portable_tok_s": round(statistics.median(portable), 2),
        "variant": variant,
        "tokens": TOKENS,
        "rounds": ROUNDS,
        "threads": 1,
        "portable_runs": [round(x, 2) for x in portable],
    }
    if native:
        out["native_tok_s"] = round(statistics.median(native), 2)
        out["portable_vs_native"] = round(
            statistics.median(portable) / statistics.median(native), 4
        )
        out["native_runs"] = [round(x, 2) for x in native]
    else:
        out["native_tok_s"] = None
        out["note"] = "no native build given (--native-lib): portable figure only"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
