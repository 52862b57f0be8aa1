"""Which llama.cpp CPU code runs on this computer, chosen at run time, never at build time.

Hearth's llama.cpp is built the way upstream release builds are (`GGML_NATIVE=OFF`,
`GGML_BACKEND_DL=ON`, `GGML_CPU_ALL_VARIANTS=ON`): one CPU backend library per instruction-set
level (`libggml-cpu-haswell.so`, `-skylakex`, `-zen4`, ...). Each library scores itself against
the CPU it finds; Hearth loads the best-scoring one, except the AMX variant: llama.cpp's AMX
weight buffer segfaults in the first decode on some Sapphire Rapids CPUs (llama.cpp issue
#20824, closed stale without a fix; stanfordnlp/dspy PR #10079 hit it on CI). Leaving out that
variant keeps the other weight repacking (the CPU repack of Q4_0/Q4_K/IQ4_NL on AVX2 and
AVX-512), which turning off every extra buffer type (`use_extra_bufts=False`) would lose too.

A build without variants (an older install, or a native build for development) has its CPU
code inside libggml; there, on a CPU with AMX, `use_extra_bufts` goes off instead.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Variants whose CPU code includes the AMX paths of llama.cpp issue #20824.
_AMX_VARIANTS = {"sapphirerapids"}
_CPU_FLAGS_OF_INTEREST = (
    "sse4_2",
    "avx",
    "f16c",
    "fma",
    "avx2",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vbmi",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


@dataclass
class BackendInfo:
    """What was loaded, for `hearth doctor` and the probe's cache key."""

    build: str = "unknown"
    variant: str = "unknown"  # "haswell", "zen4", ... or "built-in" for a build without variants
    variants_found: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # variant -> why it was not used
    extra_bufts: bool = True  # weight repacking buffers (off only where AMX code is built in)
    system_info: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "build": self.build,
            "variant": self.variant,
            "variants_found": self.variants_found,
            "skipped": self.skipped,
            "extra_bufts": self.extra_bufts,
            "system_info": self.system_info,
        }


_lock = threading.Lock()
_info: BackendInfo | None = None


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel reports them (empty where /proc is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text("utf-8", "replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_summary() -> dict[str, Any]:
    """The CPU model and the features that decide llama.cpp's speed and its AMX fault."""
    flags = cpu_flags()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text("utf-8", "replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "model": model,
        "features": [f for f in _CPU_FLAGS_OF_INTEREST if f in flags],
        "amx": bool(flags & {"amx_tile", "amx_int8", "amx_bf16"}),
    }


def llama_lib_dirs() -> list[Path]:
    """Where the llama.cpp libraries of the installed llama_cpp package are.

    A frozen app or a custom install may point llama-cpp-python at another folder with
    `LLAMA_CPP_LIB_PATH`; the same variable is honoured here.
    """
    import os

    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    if override:
        return [Path(override)]
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for folder in spec.submodule_search_locations:
        dirs.append(Path(folder) / "lib")
    return [d for d in dirs if d.is_dir()]


def variant_files(lib_dirs: list[Path] | None = None) -> dict[str, Path]:
    """The CPU variant libraries present, by variant name."""
    found: dict[str, Path] = {}
    for folder in lib_dirs if lib_dirs is not None else llama_lib_dirs():
        for path in sorted(folder.glob("libggml-cpu-*.so")):
            found.setdefault(path.name[len("libggml-cpu-") : -len(".so")], path)
    return found


def choose_variant(scores: dict[str, int]) -> tuple[str | None, dict[str, str]]:
    """The best-scoring variant this CPU runs, never an AMX one; and why others were skipped."""
    skipped: dict[str, str] = {}
    best: str | None = None
    for name, score in scores.items():
        if score <= 0:
            skipped[name] = "this CPU lacks its instructions"
        elif name in _AMX_VARIANTS:
            skipped[name] = "AMX weight buffer crashes (llama.cpp issue #20824)"
        elif best is None or score > scores[best]:
            best = name
    return best, skipped


def extra_bufts_allowed(system_info: str, cpu_has_amx: bool) -> bool:
    """Whether llama.cpp may put weights in its extra buffer types (repacking).

    Only a CPU backend with AMX code in it, on a CPU with AMX, must not: that is a build without
    variants (or a native one) on such a CPU, where the model parameter is the only way around
    issue #20824. Everywhere else repacking stays on, for its speed.
    """
    return not ("AMX_INT8 = 1" in system_info and cpu_has_amx)


def _score(path: Path) -> int:
    """The variant's own verdict on this CPU (0: cannot run here); loading runs none of its
    vector code, which is how llama.cpp's own loader picks one."""
    import _ctypes

    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return 0
    try:
        score_fn = lib.ggml_backend_score
        score_fn.restype = ctypes.c_int
        score_fn.argtypes = []
        return int(score_fn())
    except AttributeError:
        return 0
    finally:
        _ctypes.dlclose(lib._handle)


def _ggml() -> Any:
    """The libggml that libllama is linked to, already loaded by llama_cpp.

    It must be that very copy: the wheel ships `libggml.so` and `libggml.so.0` as two files,
    and opening the other one would load a second libggml with a registry of its own, where
    a backend loaded into it is invisible to llama.cpp.
    """
    import llama_cpp.llama_cpp as raw

    lib_dir = Path(raw._base_path).resolve()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if Path(path).name.startswith("libggml.so") and Path(path).parent == lib_dir:
            return ctypes.CDLL(path)
    return ctypes.CDLL("libggml.so.0")  # by soname: the already-loaded one


class _StreamsKept:
    """Stands in for llama-cpp-python's `suppress_stdout_stderr`, which points the whole
    process's stdout and stderr (file descriptors and sys.std*) at /dev/null while a model
    loads: from the engine's loading thread, that swallowed what the CLI printed meanwhile
    (measured: an adapter notice lost). llama.cpp's own lines go through its log callback,
    which is set to errors only instead."""

    def __init__(self, disable: bool = True) -> None:
        del disable

    def __enter__(self) -> _StreamsKept:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _keep_the_process_streams() -> None:
    import llama_cpp._internals
    import llama_cpp.llama
    import llama_cpp.llama_chat_format
    from llama_cpp import _logger

    _logger.set_verbose(False)  # llama.cpp's log lines: errors only
    for module in (llama_cpp.llama, llama_cpp._internals, llama_cpp.llama_chat_format):
        if hasattr(module, "suppress_stdout_stderr"):
            module.suppress_stdout_stderr = _StreamsKept  # type: ignore[attr-defined]


def ensure_loaded() -> BackendInfo:
    """Load the CPU backend once per process, before the first model; return what was used."""
    global _info
    with _lock:
        if _info is not None:
            return _info
        import llama_cpp
        import llama_cpp.llama_cpp as raw

        _keep_the_process_streams()
        info = BackendInfo(build=f"llama-cpp-python {llama_cpp.__version__}")
        variants = variant_files([Path(raw._base_path)])
        info.variants_found = sorted(variants)
        if variants:
            chosen, info.skipped = choose_variant({n: _score(p) for n, p in variants.items()})
            if chosen is None:
                raise RuntimeError("none of llama.cpp's CPU variants runs on this CPU")
            ggml = _ggml()
            ggml.ggml_backend_load.restype = ctypes.c_void_p
            ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
            handle = ggml.ggml_backend_load(str(variants[chosen]).encode())
            if not handle:
                raise RuntimeError(f"llama.cpp's CPU backend {chosen} did not load")
            info.variant = chosen
        else:
            info.variant = "built-in"
        info.system_info = raw.llama_print_system_info().decode("utf-8", "replace").strip()
        info.extra_bufts = extra_bufts_allowed(info.system_info, cpu_summary()["amx"])
        _info = info
        return info


def loaded_info() -> BackendInfo | None:
    """What `ensure_loaded` chose in this process, if it ran."""
    return _info


_params_lock = threading.Lock()


@contextmanager
def model_params(**fields: Any) -> Iterator[None]:
    """Construct a Llama with these model parameters set (llama-cpp-python 0.3.36 has no
    keyword for `use_extra_bufts`): its constructor asks `llama_model_default_params`, which
    is wrapped for the duration. Loads are serialised by the lock, so no other load sees it."""
    import llama_cpp.llama_cpp as raw

    with _params_lock:
        original = raw.llama_model_default_params

        def patched() -> Any:
            params = original()
            for name, value in fields.items():
                setattr(params, name, value)
            return params

        raw.llama_model_default_params = patched
        try:
            yield
        finally:
            raw.llama_model_default_params = original
