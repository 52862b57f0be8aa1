"""The base model in torch: dequantised from the same GGUF the engine runs (transformers reads
GGUF), plus the PEFT LoRA wrapper Hearth trains. Imported only inside the training process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.adapters.export import SUPPORTED_ARCHITECTURES, TARGET_MODULES
from app.errors import AdapterError


@dataclass(frozen=True)
class TorchBase:
    tokenizer: Any
    model: Any
    architecture: str
    n_head: int
    n_kv_head: int
    cache_entry: Path | None = None  # the base cache's entry it came from or went into


def load_base(gguf_path: Path, *, threads: int = 1, cache: Path | None = None) -> TorchBase:
    """The base model and its tokenizer in torch (float32), from `cache` (base_cache) when it
    holds this GGUF, else read from the GGUF and then kept there."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.adapters import base_cache
    from app.adapters.lora_file import base_model_info

    torch.set_num_threads(max(1, threads))
    architecture = base_model_info(gguf_path).architecture
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise AdapterError(
            f"training adapters for the '{architecture}' architecture is not supported "
            f"(supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))})"
        )
    # hashed once: the whole file is read (~0.1 s for the default model)
    entry = base_cache.key(Path(gguf_path)) if cache is not None else ""
    cached = base_cache.load(cache, entry, torch.float32) if cache is not None else None
    if cached is not None:
        tokenizer, model = cached
    else:
        folder, name = str(Path(gguf_path).parent), Path(gguf_path).name
        with gguf_read_once():
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32
            )
        if cache is not None:
            base_cache.store(cache, entry, tokenizer, model)
    # Plain matrix attention instead of torch's fused CPU kernel: on these short sequences
    # (~100 tokens) the kernel's blocking costs more than it saves. Measured on a 2-core
    # AVX-512 machine, default model, alternating runs: a training step 2.20 -> 1.97 s, the
    # neutral set 2.55 -> 2.15 s; the same NLL to the last printed digit.
    model.set_attn_implementation("eager")
    model.eval()
    config = model.config
    text_config = getattr(config, "text_config", None) or config
    n_head = int(text_config.num_attention_heads)
    n_kv_head = int(getattr(text_config, "num_key_value_heads", None) or n_head)
    kept = cache / entry if cache is not None and (cache / entry / "complete").is_file() else None
    return TorchBase(tokenizer, model, architecture, n_head, n_kv_head, kept)


@contextlib.contextmanager
def gguf_read_once() -> Iterator[None]:
    """While inside, the `gguf` package's reader is made once per file and its tensor-name map
    once per architecture. transformers reads a GGUF's whole header three times (tokenizer,
    config, weights) and builds the same name map again for each of the model's ~400 names:
    measured on the default model, 11.4 s of headers and 8.8 s of maps in the 27 s of a first
    training's loading. Both are read-only once made (a memory-mapped file, a dict of names);
    transformers imports them from `gguf` inside its functions, so the swap reaches it."""
    import gguf

    make_reader, make_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[Any, ...], Any] = {}
    maps: dict[tuple[Any, ...], Any] = {}

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = make_reader(path, *args, **kwargs)
        return readers[key]

    def name_map(arch: Any, n_blocks: int) -> Any:
        if (arch, n_blocks) not in maps:
            maps[(arch, n_blocks)] = make_map(arch, n_blocks)
        return maps[(arch, n_blocks)]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = make_reader, make_map  # type: ignore[misc]


def add_lora(model: Any, *, rank: int, alpha: float, seed: int) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=int(alpha) if float(alpha).is_integer() else alpha,  # type: ignore[arg-type]
        lora_dropout=0.0,
        bias="none",
        target_modules=list(TARGET_MODULES),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX). Without it
    bfloat16 is emulated and slower than float32, so training stays in float32 there."""
    import torch

    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def training_precision(allowed: bool) -> tuple[str, Callable[[], AbstractContextManager[Any]]]:
    """The precision of the training steps' arithmetic and the context that sets it: bfloat16
    autocast where the CPU has it natively (measured 3.05 -> 1.75 s a step on an AVX512-BF16
    CPU; the LoRA weights, the optimiser, the losses and every check stay float32), else
    float32."""
    import torch

    if allowed and native_bfloat16():
        return "bfloat16", lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return "float32", contextlib.nullcontext


def logits(model: Any, ids: list[int]) -> Any:
    """Logits (positions x vocab) as float32 numpy for one sequence."""
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].float().numpy()


def group_logits(
    model: Any, members: tuple[str, ...], scale: float, seqs: list[tuple[list[int], Any]]
) -> list[Any]:
    """Logits with only the LoRA modules of one group on (llama.cpp names such as `attn_q`),
    at `scale` times their trained strength; `seqs` pairs token ids with the rows to keep."""
    from app.adapters.torch_scoring import scaled

    with scaled(model, scale, members):
        return rows_logits(model, seqs)


def rows_logits(model: Any, seqs: list[tuple[list[int], Any]]) -> list[Any]:
    """The kept rows of each sequence's logits (`seqs`: token ids, rows), batched."""
    from app.adapters.torch_scoring import batch_logits

    return [
        x[rows]
        for x, (_, rows) in zip(batch_logits(model, [i for i, _ in seqs]), seqs, strict=True)
    ]
