"""llama.cpp's CPU code is chosen at run time, and never the AMX weight buffer (issue #20824)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.llm import backend


def test_the_amx_variant_is_never_chosen_even_when_it_scores_best():
    scores = {"x64": 1, "haswell": 40, "zen4": 90, "sapphirerapids": 120, "alderlake": 0}
    chosen, skipped = backend.choose_variant(scores)
    assert chosen == "zen4"
    assert "#20824" in skipped["sapphirerapids"]
    assert "lacks" in skipped["alderlake"]


def test_no_variant_runs_gives_none():
    assert backend.choose_variant({"haswell": 0})[0] is None


def test_repacking_stays_on_unless_amx_code_meets_an_amx_cpu():
    with_amx = "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |"
    without = "CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |"
    assert backend.extra_bufts_allowed(with_amx, cpu_has_amx=True) is False
    assert backend.extra_bufts_allowed(with_amx, cpu_has_amx=False) is True
    assert backend.extra_bufts_allowed(without, cpu_has_amx=True) is True


def test_the_model_parameter_reaches_llama_cpp(default_model):
    """`use_extra_bufts` is set on the parameters the Llama constructor builds, and only
    inside the block."""
    import llama_cpp.llama_cpp as raw

    with backend.model_params(use_extra_bufts=False):
        assert raw.llama_model_default_params().use_extra_bufts is False
    assert raw.llama_model_default_params().use_extra_bufts is True


_CHILD = r"""
import json, sys
from pathlib import Path
from app.llm.llama_loader import load_llama
from app.llm import backend
llama = load_llama(Path(sys.argv[1]), n_ctx=128, n_threads=1, probe=False, verbose=True)
tokens = llama.tokenize(b"Hello", add_bos=True, special=True)
llama.eval(tokens)
info = backend.loaded_info()
print(json.dumps({"extra_bufts": llama.model_params.use_extra_bufts,
                  "variant": info.variant, "system_info": info.system_info,
                  "cpu_amx": backend.cpu_summary()["amx"]}))
"""


def test_hearths_loader_never_uses_the_amx_buffer(default_model):
    """Loaded through Hearth's loader, llama.cpp's own load log names no AMX buffer, and the
    CPU code in use has no AMX in it unless repacking (the AMX buffer's way in) is off."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(default_model)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert "AMX" not in done.stderr.replace("AMX_", "")  # e.g. "AMX model buffer size"
    assert "model buffer size" in done.stderr  # the load log was read at all
    assert facts["variant"] != "sapphirerapids"
    if "AMX_INT8 = 1" in facts["system_info"] and facts["cpu_amx"]:
        assert facts["extra_bufts"] is False


def test_the_installed_llama_cpp_is_the_portable_build():
    """`make` builds llama.cpp with every x86-64 CPU variant; one that runs here is chosen at
    run time, so nothing depends on the CPU that compiled it."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the variant list checked here is x86-64's")
    found = backend.variant_files()
    assert {"x64", "sse42", "haswell", "skylakex", "zen4", "sapphirerapids"} <= set(found)
    info = backend.ensure_loaded()
    assert info.variant in found and info.variant != "sapphirerapids"
    assert info.skipped["sapphirerapids"]
    # The baseline variant runs on any x86-64 CPU and scores above zero here too.
    assert backend._score(found["x64"]) > 0


def test_loading_a_model_leaves_the_process_streams_alone(default_model, monkeypatch) -> None:
    """llama-cpp-python points the whole process's stdout and stderr at /dev/null while a
    model loads; from the engine's loading thread that swallowed what the CLI printed at the
    same moment. Hearth keeps the streams (llama.cpp's own lines: errors only, by its log)."""
    import os

    import llama_cpp

    from app.llm.llama_loader import load_llama

    real = llama_cpp.llama_cpp.llama_model_load_from_file
    seen = []

    def loading(*args):
        seen.append((sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino))
        return real(*args)

    monkeypatch.setattr(llama_cpp.llama_cpp, "llama_model_load_from_file", loading)
    before = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino)
    load_llama(default_model, n_ctx=256, n_threads=1, probe=False).close()
    assert seen == [before]
