"""Every kind of bad adapter is refused with its reason, by the service and by the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.adapters.lora_file import read_lora, write_lora
from app.cli import main as cli_main
from app.core import Core
from app.errors import AdapterError
from tests.adapters.conftest import Trained


def _rewrite(src: Path, dest: Path, change: Callable) -> Path:
    adapter = read_lora(src)
    change(adapter)
    write_lora(dest, adapter)
    return dest


def _not_gguf(src: Path, dest: Path) -> Path:
    dest.write_bytes(b"this is not an adapter at all\n" * 10)
    return dest


def _truncated(src: Path, dest: Path) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def _nan(src: Path, dest: Path) -> Path:
    def poison(adapter) -> None:
        name = sorted(adapter.tensors)[0]
        a, b = adapter.tensors[name]
        b = b.copy()
        b[0, 0] = np.nan
        adapter.tensors[name] = (a, b)

    return _rewrite(src, dest, poison)


def _other_arch(src: Path, dest: Path) -> Path:
    return _rewrite(src, dest, lambda a: setattr(a, "architecture", "gemma3"))


def _other_shape(src: Path, dest: Path) -> Path:
    def widen(adapter) -> None:
        name = "blk.0.attn_q.weight"
        a, b = adapter.tensors[name]
        adapter.tensors[name] = (np.zeros((a.shape[0], a.shape[1] * 2), np.float32), b)

    return _rewrite(src, dest, widen)


def _other_base(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    manifest = json.loads(src.with_suffix(".json").read_text())
    manifest["base"]["sha256"] = "0" * 64
    dest.with_suffix(".json").write_text(json.dumps(manifest))
    return dest


CASES = {
    "not_gguf": (_not_gguf, "not a GGUF"),
    "truncated": (_truncated, "truncated"),
    "nan": (_nan, "NaN"),
    "architecture": (_other_arch, "architecture"),
    "shape": (_other_shape, "shape"),
    "base_hash": (_other_base, "another base model"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_adapter_is_refused(
    case: str, trained: Trained, core: Core, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make, reason = CASES[case]
    bad = make(trained.adapter, tmp_path / f"{case}.gguf")
    with pytest.raises(AdapterError, match=reason):
        core.adapters.import_file(bad)
    assert core.adapters.list() == []
    assert cli_main(["adapters", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and reason in err


def test_a_model_file_is_not_an_adapter(core: Core, trained: Trained) -> None:
    with pytest.raises(AdapterError, match="not a LoRA adapter"):
        core.adapters.import_file(trained.base_model)


def test_the_good_file_is_accepted(core: Core, trained: Trained) -> None:
    info = core.adapters.inspect(trained.adapter)
    assert info["compatible"], info["reason"]
    adapter_id = core.adapters.import_file(trained.adapter)
    assert core.adapters.versions.get(adapter_id).status == "imported"
