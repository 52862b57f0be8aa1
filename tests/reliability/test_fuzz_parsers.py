"""Fuzzing every reader of a file a user may bring from elsewhere: GGUF models (the header
reader), GGUF LoRA adapters (and the manifest beside one), feedback JSONL, memory JSONL and notes.

Property: whatever the bytes, the outcome is a result or the project's clear error (a
HearthError subclass): never another exception, never a hang. Inputs are arbitrary bytes,
valid files with bytes changed or cut, and headers built field by field (the lies a damaged
or crafted file tells: counts past the end, unknown types, nested arrays, bad alignment).
Derandomized and bounded, so every run tries the same examples.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import AdapterError, HearthError, ModelError

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FEW = settings(FUZZ, max_examples=25)  # each example embeds texts with the real model

# -- building GGUF bytes ----------------------------------------------------------------------
U32, U64, STRING, ARRAY = 4, 10, 8, 9
_PACK = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q",
         11: "<q", 12: "<d"}  # fmt: skip
KEYS = ["general.architecture", "general.type", "adapter.type", "adapter.lora.alpha",
        "general.alignment", "hearth.metadata", "llama.block_count", "general.name"]  # fmt: skip


def gstr(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, kind: int, payload: bytes) -> bytes:
    return gstr(key.encode()) + struct.pack("<I", kind) + payload


def _u(bits: int) -> st.SearchStrategy[int]:
    """Small counts mostly, and the edges a damaged file has."""
    top = (1 << bits) - 1
    return st.one_of(st.integers(0, 4), st.sampled_from([top, top >> 1, 1 << (bits - 2)]))


@st.composite
def gguf_value(draw: st.DrawFn, depth: int = 0) -> tuple[int, bytes]:
    """(type, payload) of one metadata value, possibly lying about its type or length."""
    kind = draw(st.sampled_from([*_PACK, STRING, STRING, ARRAY, 13, 0xFFFFFFFF]))
    if kind in _PACK:
        size = struct.calcsize(_PACK[kind])
        return kind, draw(st.binary(min_size=size, max_size=size))
    if kind == STRING:
        text = draw(st.one_of(st.binary(max_size=12), st.just(b'{"name": "x"}')))
        length = draw(st.one_of(st.just(len(text)), _u(64)))
        return kind, struct.pack("<Q", length) + text
    if kind == ARRAY and depth < 3:
        items = draw(st.lists(gguf_value(depth + 1), max_size=3))
        item = items[0][0] if items else draw(st.sampled_from([U32, STRING, ARRAY]))
        count = draw(st.one_of(st.just(len(items)), _u(64)))
        body = b"".join(payload for _, payload in items)
        return kind, struct.pack("<IQ", item, count) + body
    return kind, draw(st.binary(max_size=8))


# Lies seen in damaged or crafted files, which random bytes rarely tell in a few hundred tries.
CRAFTED = [
    kv("general.alignment", U32, struct.pack("<I", 0)),
    kv("general.alignment", STRING, gstr(b"abc")),
    kv("x", ARRAY, struct.pack("<IQ", ARRAY, 1) * 3000 + struct.pack("<IQ", U32, 0)),
    kv("x", ARRAY, struct.pack("<IQ", 0, 1 << 62)),  # a count running past the end
    kv("adapter.lora.alpha", STRING, gstr(b"abc")),
    kv("adapter.lora.alpha", 6, struct.pack("<f", float("nan"))),
    kv("hearth.metadata", STRING, gstr(b'\xff{"name"')),
    kv("hearth.metadata", STRING, gstr(b"[1, 2]")),
]


@st.composite
def gguf_built(draw: st.DrawFn) -> bytes:
    """A GGUF header built field by field: often close to an adapter's, sometimes not."""
    fields = []
    if draw(st.booleans()):
        fields.append(kv("general.type", STRING, gstr(b"adapter")))
        fields.append(kv("adapter.type", STRING, gstr(b"lora")))
    for _ in range(draw(st.integers(0, 4))):
        fields.append(kv(draw(st.sampled_from(KEYS)), *draw(gguf_value())))
    fields += draw(st.lists(st.sampled_from(CRAFTED), max_size=2, unique=True))
    fields = draw(st.permutations(fields))
    tensors = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([b"blk.0.attn_k.weight", b"x"]))
        name += draw(st.sampled_from([b".lora_a", b".lora_b", b""]))
        dims = draw(st.lists(st.one_of(st.integers(0, 8), _u(64)), max_size=3))
        kind = draw(st.one_of(st.sampled_from([0, 1, 2]), _u(32)))
        offset = draw(st.one_of(st.sampled_from([0, 32]), _u(64)))
        shape = struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        tensors.append(gstr(name) + shape + struct.pack("<IQ", kind, offset))
    version = draw(st.sampled_from([3, 3, 2, 1, 0xFFFFFFFF]))
    n_tensors = draw(st.one_of(st.just(len(tensors)), _u(64)))
    n_kv = draw(st.one_of(st.just(len(fields)), _u(64)))
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)
    return head + b"".join(fields + tensors) + draw(st.binary(max_size=96))


@st.composite
def mutated(draw: st.DrawFn, valid: bytes, header_bytes: int) -> bytes:
    """`valid` with a few bytes changed (mostly in its header) and maybe cut short."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        limit = header_bytes if draw(st.integers(0, 4)) else len(data)
        data[draw(st.integers(0, limit - 1))] = draw(st.integers(0, 255))
    if draw(st.integers(0, 4)) == 0:
        del data[draw(st.integers(0, len(data) - 1)) :]
    return bytes(data)


def gguf_files(valid: Path) -> st.SearchStrategy[bytes]:
    """Files a GGUF reader may be handed: `valid` damaged, headers built, arbitrary bytes."""
    from app.llm.gguf_header import read_header

    return st.one_of(
        mutated(valid.read_bytes(), read_header(valid).data_start),
        gguf_built(),
        st.binary(max_size=64),
        st.binary(max_size=64).map(lambda b: b"GGUF" + b),
    )


# -- valid files to start from ----------------------------------------------------------------
@pytest.fixture(scope="module")
def base() -> Any:
    from app.adapters.lora_file import base_model_info
    from app.llm.models import packaged_default_model

    return base_model_info(packaged_default_model())


@pytest.fixture(scope="module")
def valid_adapter(base: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) LoRA for the default model: one tensor pair, rank 1, with metadata."""
    from app.adapters.lora_file import write_lora
    from tests.adapters.test_merge_helpers import random_adapter

    adapter = random_adapter(base, rank=1, layers=[0], targets=("attn_k",))
    adapter.metadata = {"name": "fuzz", "parents": [1, 2]}
    path = tmp_path_factory.mktemp("fuzz") / "valid.gguf"
    write_lora(path, adapter)
    return path


@pytest.fixture(scope="module")
def valid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model-shaped GGUF: a llama header with a vocabulary array and two tensors."""
    import gguf

    path = tmp_path_factory.mktemp("fuzz") / "model.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny")
    writer.add_block_count(1)
    writer.add_token_list(["<s>", "a", "b", "ab"])
    writer.add_token_scores([0.0, -1.0, -1.0, -2.0])
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", np.ones((8, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- GGUF models and adapters -----------------------------------------------------------------
# Each test fails rather than hangs: a reader looping over a count that lies is a failure too.
@pytest.mark.timeout(300)
def test_model_header_reader(valid_model: Path, tmp_path: Path) -> None:
    from app.llm.models import inspect_gguf

    assert inspect_gguf(valid_model)["n_tensors"] == 2
    target = tmp_path / "model.gguf"

    @FUZZ
    @given(gguf_files(valid_model))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        try:
            info = inspect_gguf(target)
        except ModelError:
            return
        assert info["n_tensors"] >= 1

    check()


@pytest.mark.timeout(300)
def test_adapter_reader(valid_adapter: Path, base: Any, tmp_path: Path) -> None:
    from app.adapters.lora_file import read_lora

    assert read_lora(valid_adapter, base).metadata["name"] == "fuzz"
    target = tmp_path / "adapter.gguf"

    @FUZZ
    @given(gguf_files(valid_adapter))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        for against in (base, None):
            try:
                adapter = read_lora(target, against)
            except AdapterError:
                continue
            assert adapter.tensors and np.isfinite(adapter.alpha)
            assert isinstance(adapter.metadata, dict)

    check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture
def adapters(hearth_home: Path) -> Iterator[Any]:
    from app.core import Core

    core = Core.open(load_model=False)
    try:
        yield core.adapters
    finally:
        core.close()


def test_adapter_manifest_on_check_and_import(
    adapters: Any, valid_adapter: Path, tmp_path: Path
) -> None:
    """The JSON beside an adapter (its manifest) comes with it: any content is read safely."""
    target = tmp_path / "skill.gguf"
    target.write_bytes(valid_adapter.read_bytes())
    manifest = tmp_path / "skill.json"
    shapes = st.fixed_dictionaries({"base": json_values, "name": json_values})
    contents = st.one_of(
        st.binary(max_size=40),
        json_values.map(lambda v: json.dumps(v).encode()),
        shapes.map(lambda v: json.dumps(v).encode()),
        st.just(b'{"base": {"sha256": "00ff"}}'),
    )

    @settings(FUZZ, max_examples=40)
    @given(contents)
    def check(data: bytes) -> None:
        manifest.write_bytes(data)
        try:
            adapters.check(target)
            assert adapters.versions.get(adapters.import_file(target)) is not None
        except AdapterError as exc:
            assert "another base model" in str(exc)

    check()


# -- JSONL imports ----------------------------------------------------------------------------
FEEDBACK_KEYS = ["prompt", "response", "correction", "rating"]


def jsonl_lines(keys: list[str]) -> st.SearchStrategy[bytes]:
    """A JSONL file's bytes: objects with the right keys and any values, other JSON, broken
    lines, deep nesting, huge numbers, half surrogate pairs, control characters, bad UTF-8."""
    value = st.one_of(st.text(max_size=20), st.sampled_from([1, -1, 0, 1.0, True]), json_values)
    record = st.dictionaries(st.sampled_from(keys), value, max_size=len(keys))
    good = st.fixed_dictionaries({k: st.text(min_size=1, max_size=20) for k in keys[:1]}).map(
        lambda r: {**r, "response": "ok", "rating": 1, "text": r[keys[0]]}
    )
    line = st.one_of(
        record.map(json.dumps),
        good.map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=20),
        st.sampled_from(
            ["[" * 5000, "1" * 5000, '{"' + keys[0] + '": "\\ud800"}', "", "  ", "{}", "\x00\x1b"]
        ),
    )
    text = st.lists(line, max_size=5).map(lambda lines: "\n".join(lines).encode("utf-8", "replace"))
    return st.one_of(text, text.map(lambda b: b + b"\n\xff\xfe"), st.binary(max_size=40))


def test_feedback_import(tmp_path: Path) -> None:
    """All or nothing: a good file adds each of its lines, a bad one adds none, with a message."""
    from app.adapters.feedback import FeedbackStore
    from app.store import open_store

    store = open_store()
    feedback = FeedbackStore(store)
    path = tmp_path / "feedback.jsonl"

    @FUZZ
    @given(jsonl_lines(FEEDBACK_KEYS))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        before = feedback.count()
        try:
            added = feedback.import_jsonl(path)
        except HearthError:
            assert feedback.count() == before
            return
        assert feedback.count() == before + added

    try:
        check()
    finally:
        store.close()


@pytest.fixture(scope="module")
def embedder() -> Any:
    import torch

    torch.set_num_threads(1)
    from app.memory.embedder import Embedder

    return Embedder(threads=1)


@pytest.fixture
def memory(embedder: Any) -> Iterator[Any]:
    from app.memory.service import MemoryService
    from app.store import open_store

    store = open_store()
    service = MemoryService(store, None, embedder, use_model=False)
    yield service
    service.close()
    store.close()


def test_memory_jsonl_import(memory: Any, tmp_path: Path) -> None:
    """What `hearth memory import FILE.jsonl` runs: every record with text in, the rest
    counted as skipped, or a message; nothing stored that was not a record's text."""
    from app.jsonl import read_jsonl
    from app.memory import importer

    path = tmp_path / "memories.jsonl"
    keys = ["text", "id", "created_at"]
    dated = st.fixed_dictionaries(
        {"text": st.just("a dated memory"), "created_at": st.datetimes().map(str)}
    ).map(lambda r: json.dumps(r).encode())
    offsets = st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
    edges = offsets.map(lambda t: json.dumps({"text": "edge", "created_at": t}).encode())

    @FEW
    @given(st.one_of(jsonl_lines(keys), dated, edges))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        before = memory.count()
        summary = importer.ImportSummary()
        try:
            items = list(importer.records_to_memories(read_jsonl(path), "fuzz", summary))
        except HearthError:
            assert memory.count() == before
            return
        importer.run_import(memory, items, summary)
        assert summary.imported == len(items) and memory.count() == before + len(items)
        for memory_id, item in zip(summary.ids, items, strict=True):
            assert memory.get(memory_id).text == " ".join(item.text.split())

    check()


def test_notes_import(memory: Any, tmp_path: Path) -> None:
    """Notes are any bytes in a .txt or .md file: read, chunked and stored, never a crash."""
    path = tmp_path / "notes.md"
    paragraphs = st.lists(
        st.one_of(st.text(max_size=80), st.just("word. " * 150), st.just("x" * 1500)), max_size=4
    )
    contents = st.one_of(
        st.binary(max_size=200), paragraphs.map(lambda p: "\n\n".join(p).encode("utf-8", "replace"))
    )

    @FEW
    @given(contents)
    def check(data: bytes) -> None:
        path.write_bytes(data)
        before = memory.count()
        summary = memory.import_notes([path])
        assert summary.files == 1 and memory.count() == before + summary.imported

    check()
