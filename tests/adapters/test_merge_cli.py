"""`hearth adapters merge` and `hearth adapters lineage` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_merge_helpers import random_adapter

from app.adapters.lora_file import base_model_info, read_lora, write_lora
from app.cli import main


def _import_two(default_model: Path, tmp_path: Path, capsys: Any) -> None:
    base = base_model_info(default_model)
    for seed in (1, 2):
        path = tmp_path / f"skill{seed}.gguf"
        write_lora(path, random_adapter(base, b_scale=0.002, seed=seed, layers=[0, 1]))
        assert main(["adapters", "import", str(path), "--json"]) == 0
    capsys.readouterr()


def test_merge_prints_one_json_report_and_records_lineage(
    default_model: Path, tmp_path: Path, capsys: Any
) -> None:
    _import_two(default_model, tmp_path, capsys)
    args = ["adapters", "merge", "1", "2", "--method", "ties", "--density", "0.4", "--rank", "3"]
    assert main([*args, "--activate", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    outcome = json.loads(line)
    assert outcome["adapter_id"] == 3 and outcome["activated"]
    report = outcome["report"]
    assert report["method"] == "ties" and report["rank"] == 3
    assert report["options"]["density"] == 0.4
    assert 0 < report["energy_kept_min"] <= 1 and 0 < report["sign_conflict_mean"] < 1
    assert outcome["neutral_ppl_ratio"] is not None
    merged = read_lora(Path(json.loads(_run(["adapters", "list", "--json"], capsys)[2])["path"]))
    assert merged.rank == 3 and merged.metadata["merge"]["parents"] == [1, 2]
    tree = json.loads(_run(["adapters", "lineage", "--json"], capsys)[0])["lineage"]
    assert [n["id"] for n in tree] == [3] and tree[0]["active"]
    assert [p["id"] for p in tree[0]["parents"]] == [1, 2]
    text = "\n".join(_run(["adapters", "merge", "1", "2", "--method", "cat", "--no-eval"], capsys))
    assert "cat, rank 8" in text and "not activated" in text


def _run(argv: list[str], capsys: Any) -> list[str]:
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()


def test_merge_refusals_are_clear_errors(default_model: Path, tmp_path: Path, capsys: Any) -> None:
    _import_two(default_model, tmp_path, capsys)
    for argv, message in [
        (["adapters", "merge", "1"], "at least two different adapters"),
        (["adapters", "merge", "1", "1"], "at least two different adapters"),
        (["adapters", "merge", "1", "2", "--method", "linear", "--density", "0.3"], "density"),
        (["adapters", "merge", "1", "2", "--weights", "1"], "2 adapters"),
        (["adapters", "merge", "1", "9"], "no adapter with id 9"),
        (["adapters", "merge", "1", "2", "--method", "ties", "--density", "1.5"], "density"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
