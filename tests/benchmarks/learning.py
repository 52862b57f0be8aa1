"""Learning that lands, measured end to end through the CLI on preferences no test trains on.

For each preference (a fixed closing sentence, bullet points, a signature line, a fixed
opening, answers of one sentence) a fresh
HEARTH_HOME gets ~30 feedback examples: the default model's own answers to varied prompts,
corrected the way that user would (`hearth feedback import`), then `hearth adapters train
--json`. Reported per preference: `train_s` (the CLI call, wall clock) split by the phases the
training process reports, the gate's neutral figures and the strength it chose, and the share
of answers to held-out prompts (never in the feedback) that show the preference with the
adapter as activated, at full strength, and without it. Prints one JSON object.

Training keeps the base model it dequantised (app.adapters.base_cache) for the user's next
training: the first preference trains with a cold cache (`base_cache: "cold"`), the later ones
find the base the first one kept, as a user's second training would (`"kept"`; the cache is
linked into their homes). `train_s_cold` and `train_s_kept` (the slowest of each kind) sum it up;
`--kept-cache` fills the cache before the first preference with a first training of one
step (untimed), for a run of one.

    python tests/benchmarks/learning.py [--only NAME|two] [--steps N] [--examples N] [--eval N]
        [--kept-cache] [--two]

`--two` (or `--only two`) also teaches two preferences in one user folder, one after the
other (bullet points, then a signature added to the answers given with the first adapter
active, on other questions): how often each shows after the second training.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-learning-"))
os.environ["HF_HUB_OFFLINE"] = "1"

FEEDBACK_PROMPTS = [
    "What is a good way to start learning the guitar?",
    "How do bees make honey?",
    "Why do we need sleep?",
    "What should I pack for a weekend of hiking?",
    "How does a bicycle stay upright?",
    "What is the difference between weather and climate?",
    "How can I keep basil plants alive indoors?",
    "What is compound interest?",
    "Why do leaves change colour in autumn?",
    "How do I make a cup of green tea?",
    "What does a librarian do?",
    "How do airplanes fly?",
    "What are some tips for a job interview?",
    "Why is exercise good for the heart?",
    "How do volcanoes form?",
    "What is the best way to learn new words in a language?",
    "How do I clean a cast iron pan?",
    "What causes the tides?",
    "How can I save money on groceries?",
    "What is a haiku?",
    "Why do cats purr?",
    "How do vaccines work?",
    "What makes bread rise?",
    "How should I prepare for a long flight?",
    "What is the water cycle?",
    "How do I write a thank-you note?",
    "Why is the ocean salty?",
    "What are the planets in our solar system?",
    "How can I focus better when studying?",
    "What is recycling and why does it matter?",
]
HELD_OUT_PROMPTS = [
    "How do rainbows form?",
    "What is a good breakfast before a run?",
    "How do I care for a houseplant?",
    "Why do birds migrate?",
    "What is a library card for?",
    "How does a refrigerator keep food cold?",
    "What are some ways to relax after work?",
    "How do magnets work?",
    "What should I know before adopting a dog?",
    "Why do we have seasons?",
    "How can I start running?",
    "What is photosynthesis?",
]
# A second preference's feedback (--two) is given on other questions, as a user's would be.
SECOND_PROMPTS = [
    "How do I boil an egg?",
    "What is a good first houseplant?",
    "Why is the sky blue?",
    "How do I start a vegetable garden?",
    "What is the difference between a virus and bacteria?",
    "How do I make my mornings less rushed?",
    "What does a dentist do?",
    "How do trains run on time?",
    "What is a good stretch after sitting all day?",
    "How do fish breathe underwater?",
    "What is inflation?",
    "How do I remember people's names?",
    "Why do onions make you cry?",
    "How do I choose a good book to read?",
    "What is a healthy lunch idea?",
    "How do clouds form?",
    "What should I do if I cannot sleep?",
    "How do I write a short speech?",
    "What is the moon made of?",
    "How can I drink more water during the day?",
]
CLOSING = "Hope that helps, take care!"
SIGNATURE = "~ Pip"


def sentences(text: str, n: int) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    whole = [p for p in parts if p and p[-1] in ".!?"]
    return (whole or [text.strip().rstrip(",;:") + "."])[:n]


def closing(answer: str) -> str:
    return " ".join([*sentences(answer, 2), CLOSING])


def bullets(answer: str) -> str:
    return "\n".join(f"- {s}" for s in sentences(answer, 3))


def signature(answer: str) -> str:
    return " ".join(sentences(answer, 2)) + f"\n\n{SIGNATURE}"


OPENING = "Good question!"


def opening(answer: str) -> str:
    return " ".join([OPENING, *sentences(answer, 2)])


def one_sentence(answer: str) -> str:
    return sentences(answer, 1)[0]


def shows_opening(text: str) -> bool:
    return text.strip().startswith(OPENING)


def shows_one_sentence(text: str) -> bool:
    """One sentence: a single sentence end, at the end (a trailing fragment does not count)."""
    flat = " ".join(text.split())
    return bool(flat) and flat[-1] in ".!?" and len(re.findall(r"[.!?](?:\s|$)", flat)) == 1


def shows_closing(text: str) -> bool:
    return text.strip().endswith(CLOSING)


def shows_bullets(text: str) -> bool:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return bool(lines) and lines[0].startswith("- ") and sum(x.startswith("- ") for x in lines) >= 2


def shows_signature(text: str) -> bool:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return bool(lines) and lines[-1] == SIGNATURE


PREFERENCES: dict[str, tuple[Callable[[str], str], Callable[[str], bool]]] = {
    "closing": (closing, shows_closing),
    "bullets": (bullets, shows_bullets),
    "signature": (signature, shows_signature),
    "opening": (opening, shows_opening),
    "one_sentence": (one_sentence, shows_one_sentence),
}


def hearth(home: Path, *args: str) -> tuple[str, list[tuple[float, str]]]:
    """Run the CLI in `home`; stdout, and each stderr line with the seconds it came at."""
    env = dict(os.environ, HEARTH_HOME=str(home), HEARTH_THREADS="1", OMP_NUM_THREADS="1")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None and proc.stdout is not None
    lines = [(time.perf_counter() - started, line.rstrip()) for line in proc.stderr]
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"hearth {' '.join(args)} failed: {lines[-5:]}")
    return out, lines


def phases(lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Seconds per phase the training process reported ("loading...", ...); `after` is what
    follows the last phase until the CLI returned (its gate decision, activation, exit)."""
    marks = [(t, line[:-3]) for t, line in lines if line.endswith("...")]
    out: dict[str, float] = {"start": round(marks[0][0], 1) if marks else total}
    for (t, name), (t_next, _) in zip(marks, [*marks[1:], (total, "")], strict=True):
        out[name] = round(out.get(name, 0.0) + t_next - t, 1)
    return out


def link_cache(shared: Path, home: Path) -> str:
    """Give `home` the base cache kept in `shared` (hard links); "kept" if there was one."""
    if not shared.is_dir():
        return "cold"
    target = cache_dir(home)
    for path in shared.rglob("*"):
        dest = target / path.relative_to(shared)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)
    return "kept"


def keep_cache(home: Path, shared: Path) -> None:
    made = cache_dir(home)
    if made.is_dir() and not shared.exists():
        shutil.copytree(made, shared, copy_function=os.link)


def cache_dir(home: Path) -> Path:
    """paths.training_base_dir() of the user folder `home`."""
    from app import paths

    return home / "data" / "models" / paths.training_base_dir().name


def fill_cache(work: Path, shared: Path, prompts: list[str], given: list[str]) -> None:
    """The cache a user's first training leaves (the dequantised base, and the base model's
    measures of the shipped texts: app.adapters.base_measures), left by a first training
    of one step in a folder of its own (untimed)."""
    home = work / "first-training"
    home.mkdir()
    give_feedback(home, "feedback", corrected(closing, prompts, given))
    hearth(home, "adapters", "train", "--json", "--steps", "1")
    keep_cache(home, shared)


def corrected(
    correct: Callable[[str], str], prompts: list[str], given: list[str]
) -> list[dict[str, str]]:
    """Feedback rows: each answer given, corrected the way the user wants it."""
    return [
        {"prompt": p, "response": a, "correction": correct(a)}
        for p, a in zip(prompts, given, strict=True)
    ]


def give_feedback(home: Path, name: str, rows: list[dict[str, str]]) -> None:
    """Import `rows` into the user folder `home`, as `hearth feedback import` does."""
    data = home / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    hearth(home, "feedback", "import", str(data))


def answers(core: Any, prompts: list[str], adapter: tuple[Path, float] | None) -> list[str]:
    core.engine.set_adapters([adapter] if adapter else [])
    system = core.settings.system_prompt
    out = []
    for prompt in prompts:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        out.append(core.engine.generate_text(messages, max_tokens=90, temperature=0.0, seed=0))
    core.engine.set_adapters([])
    return out


def signed(answer: str) -> str:
    """The signature added to an answer as it stands (the first preference's form kept)."""
    return f"{answer.rstrip()}\n\n{SIGNATURE}"


def two_preferences(
    work: Path, prompts: list[str], given: list[str], held_out: list[str], steps: int
) -> dict:
    """Bullet points taught first; then, with that adapter active, a signature added to its
    answers to other questions, trained as the app trains it (on all the stored feedback).
    Reported: how often each shows in held-out answers after the first and after the second."""
    from app.core import Core

    home = work / "two"
    home.mkdir(exist_ok=True)

    def teach(rows: list[dict[str, str]], name: str) -> dict[str, Any]:
        give_feedback(home, name, rows)
        begun = time.perf_counter()
        out, lines = hearth(home, "adapters", "train", "--json", "--steps", str(steps))
        train_s = time.perf_counter() - begun
        outcome = json.loads(out)
        training = outcome.get("training") or {}
        return {
            "train_s": round(train_s, 1),
            "phases_s": phases(lines, train_s),
            "s_per_step": round(training.get("s_per_step", 0.0), 2),
            "status": outcome["status"],
            "activated": outcome["activated"],
            "reason": outcome["reason"],
            "strength": (outcome.get("figures") or {}).get("strength"),
            "continued_from": (outcome.get("training") or {}).get("continued_from"),
        }

    def active_answers(questions: list[str]) -> tuple[list[str], float | None]:
        os.environ["HEARTH_HOME"] = str(home)
        core = Core.open(load_model=True, n_threads=1)
        try:
            core.engine.wait_loaded()
            active, scale = core.adapters.active()
            if active is None or active.path is None:
                return answers(core, questions, None), None
            return answers(core, questions, (active.path, scale)), scale
        finally:
            core.close()

    first = teach(corrected(bullets, prompts, given), "bullets")
    after_first, first["active_scale"] = active_answers([*held_out, *SECOND_PROMPTS])
    first["shows_bullets"] = _share(shows_bullets, after_first[: len(held_out)])
    second_given = after_first[len(held_out) :]
    second = teach(corrected(signed, SECOND_PROMPTS, second_given), "signature")
    after_second, second["active_scale"] = active_answers(held_out)
    second["shows_bullets"] = _share(shows_bullets, after_second)
    second["shows_signature"] = _share(shows_signature, after_second)
    second["example"] = {"prompt": held_out[0], "answer": after_second[0]}
    return {"first_bullets": first, "then_signature": second}


def main() -> None:
    from app.adapters.train import TrainOptions

    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=[*sorted(PREFERENCES), "two"])
    parser.add_argument("--steps", type=int, default=TrainOptions.steps)
    parser.add_argument("--examples", type=int, default=len(FEEDBACK_PROMPTS))
    parser.add_argument("--eval", type=int, default=len(HELD_OUT_PROMPTS))
    parser.add_argument("--kept-cache", action="store_true")
    parser.add_argument("--two", action="store_true", help="also teach two preferences in turn")
    args = parser.parse_args()
    from app.core import Core

    names = [args.only] if args.only else list(PREFERENCES)
    names = [] if args.only == "two" else names
    prompts, held_out = FEEDBACK_PROMPTS[: args.examples], HELD_OUT_PROMPTS[: args.eval]
    work = Path(tempfile.mkdtemp(prefix="hearth-learning-work-"))
    shared = work / "kept-base"
    core = Core.open(load_model=True, n_threads=1)
    core.engine.wait_loaded()
    started = time.perf_counter()
    given = answers(core, prompts, None)
    base_answers = answers(core, held_out, None)
    result: dict[str, Any] = {
        "examples": len(prompts),
        "held_out_prompts": len(held_out),
        "steps": args.steps,
        "generate_feedback_s": round(time.perf_counter() - started, 1),
    }
    if args.kept_cache:
        fill_cache(work, shared, prompts, given)
    for name in names:
        correct, shows = PREFERENCES[name]
        home = work / name
        home.mkdir()
        give_feedback(home, "feedback", corrected(correct, prompts, given))
        cache = link_cache(shared, home)
        begun = time.perf_counter()
        # The product's own thread choice (every core: training pauses while a reply streams).
        out, lines = hearth(home, "adapters", "train", "--json", "--steps", str(args.steps))
        train_s = time.perf_counter() - begun
        keep_cache(home, shared)
        outcome = json.loads(out)
        figures = outcome.get("figures") or {}
        entry: dict[str, Any] = {
            "train_s": round(train_s, 1),
            "base_cache": cache,
            "phases_s": phases(lines, train_s),
            "status": outcome["status"],
            "activated": outcome["activated"],
            "reason": outcome["reason"],
            "steps_run": outcome["training"].get("steps_run"),
            "stopped_by_guard": outcome["training"].get("stopped_by_guard"),
            "s_per_step": round(outcome["training"].get("s_per_step", 0.0), 2),
            "export_s": None,
            "strength": figures.get("strength"),
            "held_nll_base": _r(figures.get("held_nll_base")),
            "held_nll_adapter": _r(figures.get("held_nll_adapter")),
            "held_nll_full": _r(figures.get("held_nll_full")),
            "neutral_ppl_ratio": _r(figures.get("neutral_ppl_ratio")),
            "neutral_ppl_ratio_full": _r(figures.get("neutral_ppl_ratio_full")),
            "neutral_tokens": figures.get("neutral_tokens"),
            "plain_answers_ratio": _r(figures.get("plain_answers_ratio")),
            "strengths_tried": figures.get("strengths_tried"),
            "shows_without": _share(shows, base_answers),
        }
        os.environ["HEARTH_HOME"] = str(home)
        with_core = Core.open(load_model=True, n_threads=1)
        try:
            with_core.engine.wait_loaded()
            active, scale = with_core.adapters.active()
            entry["active_scale"] = scale if active else None
            if active is not None and active.path is not None:
                entry["export_s"] = _r(active.manifest.get("export_s"))
                tuned = answers(with_core, held_out, (active.path, scale))
                entry["shows_with"] = _share(shows, tuned)
                entry["example"] = {"prompt": held_out[0], "answer": tuned[0]}
                if scale < 1.0:
                    full = answers(with_core, held_out, (active.path, 1.0))
                    entry["shows_with_full_strength"] = _share(shows, full)
        finally:
            with_core.close()
        result[name] = entry
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)
    core.close()
    if args.two or args.only == "two":
        link_cache(shared, work / "two")
        result["two"] = two_preferences(work, prompts, given, held_out, args.steps)
    for kind in ("cold", "kept"):
        times = [e["train_s"] for n, e in result.items() if n in names and e["base_cache"] == kind]
        result[f"train_s_{kind}"] = max(times) if times else None
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


def _r(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, int | float) else value


def _share(shows: Callable[[str], bool], texts: list[str]) -> float:
    return round(sum(map(shows, texts)) / max(len(texts), 1), 3)


if __name__ == "__main__":
    main()
