"""How the two real test adapters are trained on the default model, each in its own HEARTH_HOME.

"Ahoy!": the base model's own answers (`data/ahoy_style.jsonl`) with every answer starting
"Ahoy!". "Short": while the Ahoy adapter is active, its answers cut to their first sentence.
Used by the session fixtures (tests/adapters/conftest.py, test_consolidate.py) and by the merge
benchmark (tests/benchmarks/merge.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "ahoy_style.jsonl"
STEPS = 24
SHORT_STEPS = 40
STYLE = "Ahoy"


@dataclass(frozen=True)
class AhoyAdapter:
    outcome: Any  # app.adapters.service.TrainOutcome
    adapter: Path
    held_prompts: list[str]
    base_model: Path


@contextmanager
def hearth_home(home: Path) -> Iterator[None]:
    """HEARTH_HOME set to `home` for the block, restored (or removed) after it."""
    previous = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = previous


def train_ahoy(home: Path) -> AhoyAdapter:
    """Train the "Ahoy!" adapter through AdapterService in `home` (arrays kept for parity)."""
    from app.adapters.consolidate import held_examples
    from app.adapters.train import TrainOptions
    from app.core import Core

    with hearth_home(home):
        core = Core.open(load_model=False)
        try:
            service = core.adapters
            service.feedback.import_jsonl(DATA)
            outcome = service.train(TrainOptions(steps=STEPS, threads=1, keep_arrays=True))
            version = service.versions.get(outcome.adapter_id)
            held = [e.prompt for e in held_examples(service, version.manifest)]
            base_model = service.base_model().path
        finally:
            core.close()
    assert version.path is not None, outcome.reason
    return AhoyAdapter(outcome, version.path, held, base_model)


def source_feedback(adapter: Path) -> list[dict[str, Any]]:
    """The held-back feedback rows of an adapter trained in another test home (its manifest
    keeps only their ids; the rows are in that home's database), in the manifest's order."""
    import sqlite3

    from app.adapters import export
    from app.adapters.consolidate import held_back_ids

    ids = held_back_ids(export.read_manifest(adapter))
    database = adapter.resolve().parents[1] / "hearth.db"  # HOME/data/adapters/NAME.gguf
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM feedback")}
    finally:
        conn.close()
    return [rows[i] for i in ids if i in rows]


def adopt(service: Any, adapter: Path, folder: Path) -> int:
    """Import an adapter trained in another test home together with its held-back feedback,
    as if the user had trained it here: the feedback is added to this home and the imported
    manifest points at the new ids. `folder` holds the rewritten copy."""
    from app.adapters import export

    new_ids = [
        service.feedback.add(
            r["prompt"], r["response"], correction=r["correction"], rating=r["rating"]
        )
        for r in source_feedback(adapter)
    ]
    manifest = export.read_manifest(adapter)
    manifest["dataset"] = {**manifest.get("dataset", {}), "held_back_ids": new_ids}
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / adapter.name
    copy.write_bytes(adapter.read_bytes())
    export.write_manifest(copy, manifest)
    return int(service.import_file(copy))


def first_sentence(text: str) -> str:
    match = re.match(r"(\s*Ahoy!\s*)?(.+?[^\d\s][.!?])(\s|$)", text, re.S)
    return (match.group(1) or "") + match.group(2) if match else text


def greedy_llama(llama: Any, prompt: str, max_tokens: int) -> str:
    from app.settings.model import DEFAULT_SYSTEM_PROMPT

    messages = [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": prompt},
    ]
    reply = llama.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, seed=0)
    return str(reply["choices"][0]["message"]["content"])


def train_short(home: Path, base_model: Path, ahoy: Path) -> Path:
    """A second preference, learnt the way Hearth learns: while the "Ahoy!" adapter is active,
    the user cuts its answers down to their first sentence. Trained in `home`."""
    from app.adapters.train import TrainOptions
    from app.core import Core
    from app.llm import lora_swap
    from app.llm.llama_loader import load_llama

    prompts = [json.loads(line)["prompt"] for line in DATA.read_text().splitlines() if line]
    llama = load_llama(base_model, n_ctx=1024, n_threads=1)
    try:
        lora_swap.set_adapters(llama, [(lora_swap.load_adapter(llama, ahoy), 1.0)])
        rows = []
        for prompt in prompts:
            answer = greedy_llama(llama, prompt, max_tokens=80)
            rows.append(
                {"prompt": prompt, "response": answer, "correction": first_sentence(answer)}
            )
    finally:
        llama.close()
    data = home / "short.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with hearth_home(home):
        opened = Core.open(load_model=False)
        try:
            opened.adapters.feedback.import_jsonl(data)
            outcome = opened.adapters.train(TrainOptions(steps=SHORT_STEPS, threads=1))
            path = opened.adapters.versions.get(outcome.adapter_id).path
        finally:
            opened.close()
    assert path is not None and outcome.status == "ready", outcome.reason
    return path


def train_both(folder: Path) -> tuple[Path, Path]:
    """Both adapters (each with its manifest beside it), trained in homes under `folder`."""
    ahoy_home, short_home = folder / "ahoy-home", folder / "short-home"
    ahoy_home.mkdir(parents=True)
    short_home.mkdir(parents=True)
    ahoy = train_ahoy(ahoy_home)
    return ahoy.adapter, train_short(short_home, ahoy.base_model, ahoy.adapter)
