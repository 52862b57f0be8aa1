"""Crash test: real Hearth work in a child process, SIGKILLed at a random moment, N rounds.

The child streams answers from the real model, imports feedback, imports, activates and rolls
back adapters and merges them, exports everything and starts trainings, printing an
acknowledgement after each thing it has been told is saved. One round in three it also imports
memories (JSONL, with the real embedder) and forgets some, saving the vector index now and
then. After each kill the next start (a real core) must find: every acknowledged message with
its text, `PRAGMA integrity_check` ok, imports whole or absent, every acknowledged export
readable, the active adapter and every stored adapter file loadable, the memory vector index
(loaded from disk, or rebuilt when stale) holding exactly the database's memories and vectors
with no forgotten one, and no process of the killed app left (a training process dies with it).
Prints one JSON object: rounds, lost, corrupt, unloadable_adapters, orphans, index_mismatch
(and temp_files).

    python tests/reliability/kill_test.py --rounds 100      (make reliability)

Not covered here (it costs minutes per round): a training that gets as far as its export.
`temp_files` counts interrupted writes' leftovers, which the next start removes once they are
10 minutes old (another process may be writing).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the app and the test helpers import from here
    sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "adapters" / "data" / "ahoy_style.jsonl"
PROMPTS = ["Say hello.", "Name a fruit.", "What is two plus two?", "Tell me a colour."]
MEMORY_RECORDS = 40  # one import is one transaction (imports commit every 256 records)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def ack(kind: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"ack": kind, **fields}) + "\n")
    sys.stdout.flush()


def memory_file(folder: Path) -> Path:
    path = folder / "memories.jsonl"
    lines = [
        json.dumps({"text": f"Fact {i}: the blue kettle is on shelf {i}."})
        for i in range(MEMORY_RECORDS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def memory_action(core: Any, rng: random.Random, records: Path) -> None:
    """Import memories, or forget one imported memory; save the vector index now and then."""
    from app.jsonl import read_jsonl
    from app.memory import importer

    memory = core.memory
    rows = core.store.query("SELECT id, batch FROM memories WHERE source_type = 'import'")
    if rows and rng.random() < 0.4:
        row = rng.choice(rows)
        ack("forgetting", id=row["id"], batch=row["batch"])  # before: it may be gone unacked
        memory.forget(row["id"])
        ack("forgot", id=row["id"])
    else:
        batch = f"import:{records.name}:{time.time():.6f}"
        summary = importer.ImportSummary()
        items = importer.records_to_memories(read_jsonl(records), batch, summary)
        importer.run_import(memory, items, summary)
        ack("memories", batch=batch)
    if rng.random() < 0.5:
        memory.flush_index()


def worker(skills: list[str], seed: int, memory: bool = False) -> None:
    """The app at work, until it is killed."""
    from app import paths
    from app.adapters.consolidate import merge_versions
    from app.adapters.train import TrainOptions
    from app.assistant import Done
    from app.core import Core
    from app.errors import HearthError
    from app.privacy.export import export_all

    core = Core.open(load_model=True, n_threads=1)
    core.engine.wait_loaded()
    service = core.adapters
    rng = random.Random(seed)
    actions = [
        "chat",
        "chat",
        "chat",
        "feedback",
        "adapter",
        "merge",
        "rollback",
        "export",
        "train",
    ]
    if memory:  # the embedder loads before the clock starts: the round is about the writes
        core.memory.embedder.embed(["warm up"])
        records = memory_file(paths.home() or Path("."))
        actions += ["memory"] * 4
    ack("ready")
    while True:
        action = rng.choice(actions)
        if action == "memory":
            memory_action(core, rng, records)
        elif action == "chat":
            convs = core.conversations.list()
            conv = rng.choice(convs).id if convs and rng.random() < 0.7 else None
            for event in core.assistant.send(conv, rng.choice(PROMPTS)):
                if isinstance(event, Done):
                    for mid in (event.user_message_id, event.assistant_message_id):
                        if mid is not None:
                            msg = core.conversations.message(mid)
                            ack("message", id=mid, sha=digest(msg.content))
        elif action == "feedback":
            service.feedback.import_jsonl(DATA)
            ack("feedback", count=service.feedback.count())
        elif action == "adapter":
            adapter_id = service.import_file(Path(rng.choice(skills)))
            service.activate(adapter_id, rng.choice([0.5, 1.0]))
            ack("active", id=adapter_id)
        elif action == "merge":
            ready = [v.id for v in service.list() if v.path is not None]
            if len(ready) >= 2:
                outcome = merge_versions(service, rng.sample(ready, 2), "cat", evaluate=False)
                ack("merged", id=outcome.adapter_id)
        elif action == "export":
            exports = paths.data_dir() / "exports"
            exports.mkdir(exist_ok=True)
            ack("export", path=str(export_all(core.store, exports).path))
        elif action == "train":  # killed long before it ends: its process must die too
            with contextlib.suppress(HearthError):  # not enough feedback yet
                service.train(
                    TrainOptions(steps=200, threads=1),
                    on_started=lambda job: ack("training", pid=job.pid),
                )
        else:
            service.rollback()
            ack("rolled_back")


def _skills(folder: Path) -> list[str]:
    from app.adapters.lora_file import base_model_info, write_lora
    from app.llm.models import packaged_default_model
    from tests.adapters.test_merge_helpers import random_adapter

    folder.mkdir(parents=True, exist_ok=True)
    base = base_model_info(packaged_default_model())
    out = []
    for seed in (1, 2):
        path = folder / f"skill{seed}.gguf"
        write_lora(path, random_adapter(base, b_scale=0.002, seed=seed, layers=[0, 1]))
        out.append(str(path))
    return out


def _leftover_processes(home: Path) -> list[int]:
    """Processes still running whose command line names this home (an orphaned job)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(home).encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def check(home: Path, acked: list[dict[str, Any]]) -> dict[str, int]:
    """The next start after a kill: what was promised must be there, and sound."""
    from app.core import Core

    figures = {"lost": 0, "corrupt": 0, "unloadable_adapters": 0, "orphans": 0}
    figures["index_mismatch"] = 0
    db = home / "data" / "hearth.db"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                figures["corrupt"] += 1
        finally:
            conn.close()
    core = Core.open(load_model=False)
    try:
        for item in acked:
            if item["ack"] == "message":
                msg = core.conversations.message(item["id"])
                if msg is None or digest(msg.content) != item["sha"]:
                    figures["lost"] += 1
        counts = [i["count"] for i in acked if i["ack"] == "feedback"]
        stored = core.adapters.feedback.count()
        per_import = len([line for line in DATA.read_text().splitlines() if line.strip()])
        if stored % per_import or (counts and stored < max(counts)):
            figures["corrupt"] += 1  # an import half in, or an acknowledged one gone
        service = core.adapters
        for version in service.list():
            if version.path is None:
                continue
            try:
                service.check(version.path)
            except Exception:
                figures["unloadable_adapters"] += 1
        active = service.versions.active()
        if active is not None and (active.path is None or not Path(active.path).is_file()):
            figures["unloadable_adapters"] += 1
        figures["lost"] += _memories_lost(core, acked)
        figures["index_mismatch"] += _index_mismatch(core)
        for item in acked:
            if item["ack"] == "export":
                try:
                    with zipfile.ZipFile(item["path"]) as archive:
                        if archive.testzip() is not None:
                            figures["corrupt"] += 1
                except (OSError, zipfile.BadZipFile):
                    figures["lost"] += 1
    finally:
        core.close()
    figures["orphans"] = len(_leftover_processes(home))
    return figures


def _memories_lost(core: Any, acked: list[dict[str, Any]]) -> int:
    """Each import whole (less what was forgotten) or absent; acknowledged ones present; an
    acknowledged forget done."""
    rows = core.store.query(
        "SELECT batch, count(*) AS n FROM memories WHERE source_type = 'import' GROUP BY batch"
    )
    present = {row["batch"]: row["n"] for row in rows}
    forgetting: dict[str, int] = {}
    for item in acked:
        if item["ack"] == "forgetting":
            forgetting[item["batch"]] = forgetting.get(item["batch"], 0) + 1
    lost = 0
    for batch, count in present.items():  # half an import, or more than one
        if not MEMORY_RECORDS - forgetting.get(batch, 0) <= count <= MEMORY_RECORDS:
            lost += 1
    for item in acked:
        if item["ack"] == "memories" and item["batch"] not in present:
            lost += MEMORY_RECORDS - forgetting.get(item["batch"], 0) > 0
        if item["ack"] == "forgot" and core.store.scalar(
            "SELECT count(*) FROM memories WHERE id = ?", (item["id"],)
        ):
            lost += 1  # forgotten and still there: a promise broken too
    return lost


def _index_mismatch(core: Any) -> int:
    """The vector index the next start uses (loaded, or rebuilt when stale) against SQLite."""
    import numpy as np

    from app import paths
    from app.memory.dense import DenseStore, load_vectors

    ids, vecs = DenseStore(core.store, paths.index_dir()).index().contents()
    db_ids, db_vecs = load_vectors(core.store)
    if sorted(ids.tolist()) != sorted(db_ids.tolist()):
        return 1
    mine, theirs = np.argsort(ids), np.argsort(db_ids)
    return 0 if np.allclose(vecs[mine], db_vecs[theirs], atol=1e-6) else 1


def run(rounds: int, seed: int = 0, max_wait_s: float = 6.0) -> dict[str, Any]:
    """`rounds` kills in the current HEARTH_HOME (it must be a scratch folder)."""
    from app import paths
    from app.settings import Settings, save_settings

    home = paths.home()
    if home is None:
        raise SystemExit("set HEARTH_HOME to a scratch folder: the test kills the app in it")
    save_settings(Settings(max_tokens=16, temperature=0.0, memory_enabled=False, threads=1))
    skills = _skills(home / "skills")
    rng = random.Random(seed)
    totals = {"rounds": 0, "lost": 0, "corrupt": 0, "unloadable_adapters": 0, "orphans": 0}
    totals["index_mismatch"] = 0
    acked: list[dict[str, Any]] = []
    env = dict(os.environ, HEARTH_THREADS="1", PYTHONPATH=str(ROOT))
    for number in range(rounds):
        worker_args = ["--worker", "--seed", str(seed * 1000 + number)]
        if number % 3 == 0:
            worker_args.append("--memory")
        child = subprocess.Popen(
            [sys.executable, __file__, *worker_args, *skills],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert child.stdout is not None
        ready = child.stdout.readline()
        if "ready" not in ready:
            child.kill()
            raise RuntimeError(f"the worker did not start (round {number})")
        time.sleep(rng.uniform(0.05, max_wait_s))
        os.kill(child.pid, signal.SIGKILL)  # the app alone, as a crash or a power cut would
        out, _ = child.communicate()
        acked += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        time.sleep(0.5)  # a training process would get its parent-death signal at once
        for key, value in check(home, acked).items():
            totals[key] += value
        totals["rounds"] += 1
    totals["acknowledged"] = len(acked)
    totals["trainings_killed"] = sum(1 for item in acked if item["ack"] == "training")
    totals["memory_imports"] = sum(1 for item in acked if item["ack"] == "memories")
    totals["memories_forgotten"] = sum(1 for item in acked if item["ack"] == "forgot")
    totals["temp_files"] = sum(1 for _ in home.rglob(".*.tmp"))
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--memory", action="store_true", help="worker: memory imports too")
    parser.add_argument("skills", nargs="*")
    args = parser.parse_args()
    if args.worker:
        worker(args.skills, args.seed, args.memory)
        return 0
    if os.environ.get("HEARTH_HOME") is None:
        import tempfile

        os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-kill-")
    result = run(args.rounds, args.seed)
    print(json.dumps(result))
    bad = result["lost"] + result["corrupt"] + result["unloadable_adapters"] + result["orphans"]
    bad += result["index_mismatch"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
