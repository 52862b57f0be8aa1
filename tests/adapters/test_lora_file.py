"""GGUF LoRA files: exact round trip, llama.cpp loads what we write, bad files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_merge_helpers import Logits, random_adapter

from app.adapters.lora_file import (
    BaseModelInfo,
    LoraAdapter,
    base_model_info,
    read_lora,
    write_lora,
)
from app.errors import AdapterError, ModelError


def test_base_model_info_reads_the_default_model(base: BaseModelInfo) -> None:
    assert base.architecture == "llama"
    assert base.tensor_shapes["blk.0.attn_q.weight"] == (576, 576)
    assert base.tensor_shapes["blk.0.attn_k.weight"] == (192, 576)  # 3 KV heads of 64
    assert base.tensor_shapes["blk.29.ffn_down.weight"] == (576, 1536)


def test_base_model_info_agrees_with_gguf_at_a_fraction_of_its_cost(default_model: Path) -> None:
    """Activating an adapter reads the base model's header on whichever thread asks, the
    window's included: gguf's reader took seconds there (a numpy view per vocabulary entry)."""
    import time

    import gguf

    from app.adapters import lora_file

    started = time.perf_counter()
    info = lora_file._base_model_info.__wrapped__(default_model.resolve(), 0, 0)  # uncached
    ours = time.perf_counter() - started
    reader = gguf.GGUFReader(default_model, "r")
    theirs = time.perf_counter() - started - ours
    arch = reader.fields["general.architecture"]
    assert info.architecture == bytes(arch.parts[arch.data[0]]).decode()
    shapes = {
        t.name: (int(t.shape[1]), int(t.shape[0])) for t in reader.tensors if len(t.shape) == 2
    }
    assert info.tensor_shapes == shapes
    assert ours < theirs / 5, (ours, theirs)


def test_round_trip_is_exact_and_in_llama_cpp_layout(base: BaseModelInfo, tmp_path: Path) -> None:
    import gguf

    adapter = random_adapter(base, rank=3, alpha=6.0, layers=[0, 1])
    adapter.metadata = {"parents": [1, 2], "method": "cat"}
    path = tmp_path / "a.gguf"
    write_lora(path, adapter)
    back = read_lora(path, base)
    assert (back.architecture, back.alpha, back.rank) == ("llama", 6.0, 3)
    assert back.metadata == adapter.metadata
    assert back.tensors.keys() == adapter.tensors.keys()
    for name, (a, b) in adapter.tensors.items():
        assert np.array_equal(back.tensors[name][0], a)
        assert np.array_equal(back.tensors[name][1], b)
    # What llama.cpp's converter writes: the keys, and shapes stored reversed (ggml order).
    reader = gguf.GGUFReader(path)
    assert reader.get_field("general.type").contents() == "adapter"
    assert reader.get_field("adapter.type").contents() == "lora"
    assert reader.get_field("adapter.lora.alpha").contents() == 6.0
    assert reader.get_field("general.architecture").contents() == "llama"
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    assert shapes["blk.0.ffn_down.weight.lora_a"] == [1536, 3]
    assert shapes["blk.0.ffn_down.weight.lora_b"] == [3, 576]
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def test_scale_and_delta_follow_llama_cpp(base: BaseModelInfo) -> None:
    adapter = random_adapter(base, rank=4, alpha=8.0, layers=[0])
    a, b = adapter.tensors["blk.0.attn_q.weight"]
    np.testing.assert_allclose(adapter.delta("blk.0.attn_q.weight"), 2.0 * b @ a, rtol=1e-6)
    a2, b2 = adapter.scaled_factors("blk.0.attn_q.weight")
    np.testing.assert_allclose(b2 @ a2, 2.0 * b @ a, rtol=1e-6)
    adapter.alpha = 0.0  # llama.cpp: no alpha means scale 1
    assert adapter.tensor_scale("blk.0.attn_q.weight") == 1.0


def test_llama_cpp_loads_what_we_write(base: BaseModelInfo, logits: Logits, tmp_path: Path) -> None:
    zero, small = tmp_path / "zero.gguf", tmp_path / "small.gguf"
    write_lora(zero, random_adapter(base, b_scale=0.0))
    write_lora(small, random_adapter(base, b_scale=0.05, seed=1))
    plain = logits()
    assert np.array_equal(logits([(zero, 1.0)]), plain)  # a zero delta changes nothing
    changed = logits([(small, 1.0)])
    assert np.abs(changed - plain).max() > 0.5
    assert np.array_equal(logits(), plain)  # cleared: back to the base exactly


def test_llama_cpp_applies_alpha_over_rank_as_we_do(
    base: BaseModelInfo, logits: Logits, tmp_path: Path
) -> None:
    # The same delta written as (alpha 8, B) and as (alpha = rank, 2 B) gives the same logits.
    adapter = random_adapter(base, rank=4, alpha=8.0, b_scale=0.05, seed=2)
    folded = LoraAdapter("llama", 4.0, 4, {n: adapter.scaled_factors(n) for n in adapter.tensors})
    first, second = tmp_path / "first.gguf", tmp_path / "second.gguf"
    write_lora(first, adapter)
    write_lora(second, folded)
    reference = logits([(first, 1.0)])
    other = logits([(second, 1.0)])
    assert np.abs(reference - logits()).max() > 0.5
    assert np.median(np.abs(reference - other)) < 0.05
    assert (reference.argmax(-1) == other.argmax(-1)).mean() >= 0.9


def _refusal(path: Path, base: BaseModelInfo | None = None) -> str:
    with pytest.raises(AdapterError) as caught:
        read_lora(path, base)
    return str(caught.value)


def test_bad_files_are_refused_with_a_reason(
    base: BaseModelInfo, default_model: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.gguf"
    write_lora(good, random_adapter(base, layers=[0, 1]))
    data = good.read_bytes()

    (tmp_path / "text.gguf").write_text("not a model at all")
    assert "not a GGUF" in _refusal(tmp_path / "text.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    assert "not a GGUF" in _refusal(tmp_path / "empty.gguf")
    assert "not a LoRA adapter" in _refusal(default_model)
    for cut in (20, len(data) // 3, len(data) - 7):
        (tmp_path / "cut.gguf").write_bytes(data[:cut])
        assert "truncated" in _refusal(tmp_path / "cut.gguf")

    other_arch = tmp_path / "gemma.gguf"
    adapter = random_adapter(base, layers=[0])
    adapter.architecture = "gemma3"
    write_lora(other_arch, adapter)
    assert "'gemma3' architecture" in _refusal(other_arch, base)

    smaller = BaseModelInfo("llama", {n: (s[0], s[1] // 2) for n, s in base.tensor_shapes.items()})
    assert "another model" in _refusal(good, smaller)

    for bad_value in (np.nan, np.inf):
        adapter = random_adapter(base, layers=[0])
        adapter.tensors["blk.0.attn_v.weight"][1][3, 1] = bad_value
        write_lora(tmp_path / "bad.gguf", adapter)
        assert "NaN or infinite" in _refusal(tmp_path / "bad.gguf", base)

    assert read_lora(good, base).rank == 4  # and the good one still reads


def test_missing_files_and_models_are_refused(tmp_path: Path) -> None:
    assert "cannot be read" in _refusal(tmp_path / "missing.gguf")
    with pytest.raises(ModelError):
        base_model_info(tmp_path / "missing.gguf")
    (tmp_path / "x.gguf").write_text("nope")
    with pytest.raises(ModelError):
        base_model_info(tmp_path / "x.gguf")


def test_inconsistent_adapters_are_not_written(base: BaseModelInfo, tmp_path: Path) -> None:
    adapter = random_adapter(base, layers=[0])
    a, b = adapter.tensors["blk.0.attn_q.weight"]
    adapter.tensors["blk.0.attn_q.weight"] = (a, b[:, :2])
    with pytest.raises(AdapterError):
        write_lora(tmp_path / "x.gguf", adapter)
    assert not (tmp_path / "x.gguf").exists()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("outtype", ["f16", "bf16", "q8_0"])
def test_reads_what_llama_cpps_converter_writes_at_other_types(
    base: BaseModelInfo, tmp_path: Path, outtype: str
) -> None:
    """`convert_lora_to_gguf.py --outtype f16|bf16|q8_0` files are read back as float32."""
    import gguf

    adapter = random_adapter(base, rank=32, layers=[0], targets=("attn_q", "ffn_down"))
    kind = {
        "f16": gguf.GGMLQuantizationType.F16,
        "bf16": gguf.GGMLQuantizationType.BF16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
    }[outtype]
    path = tmp_path / f"{outtype}.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 16.0)
    for name, (a, b) in adapter.tensors.items():
        for suffix, data in ((".lora_a", a), (".lora_b", b)):
            raw = gguf.quants.quantize(data, kind)
            writer.add_tensor(name + suffix, raw, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    back = read_lora(path, base)
    assert back.alpha == 16.0 and back.rank == 32
    for name, (a, b) in adapter.tensors.items():
        np.testing.assert_allclose(back.tensors[name][0], a, atol=0.02 * np.abs(a).max())
        np.testing.assert_allclose(back.tensors[name][1], b, atol=0.02 * np.abs(b).max())
