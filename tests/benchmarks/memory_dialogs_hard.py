"""Harder conversations for memory recall, each question tagged with what makes it hard:

- paraphrase: the question shares no content word with the turn that answers it;
- temporal: the question names the day something was said ("on March 14"), not its topic;
- two_sessions: the answer is spread over two sessions (a plan, and later how it went);
- pronouns: the friend asks by name, the answer says "she"/"he" and names nothing;
- photo: a photo shared and described in words, asked about in other words.

Built on `memory_dialogs.generate` (its own questions are kept as "plain"). Deterministic for a
seed; seeds 0-4 are the tuning part, 5-9 the held-apart part.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from memory_dialogs import FILLER, Dialog, generate

TUNE_SEEDS = range(0, 5)
HELD_SEEDS = range(5, 10)

PARAPHRASE = [
    (
        "My {relative} got a job at the {employer} in {city}.",
        "Where is the new workplace of {S}'s {relative}?",
    ),
    ("I finally passed my driving test on the third try!", "Did {S} get a licence to drive a car?"),
    ("We put an offer on a flat near the {landmark}.", "Is {S} trying to buy a home?"),
    ("I gave up coffee two weeks ago, the headaches were awful.", "What drink did {S} quit?"),
    ("My landlord is raising the rent again in {month}.", "Will {S}'s housing costs go up?"),
]
PLANS = [
    (
        "I signed up for a pottery course at the {venue}, it starts soon.",
        "The pottery course is over, I made a lopsided {thing} and love it.",
        "What did {S} make at the pottery course they signed up for?",
    ),
    (
        "I'm saving up for a trip to {place} next year.",
        "Booked it! Flights to {place} are done and I found a cabin by the lake.",
        "Where will {S} stay on the trip they were saving for?",
    ),
    (
        "I applied for the team lead role at work.",
        "I got the team lead role! I start managing {n} people in {month}.",
        "How many people will {S} manage after applying for the promotion?",
    ),
]
PRONOUN = [
    (
        "{O}, how is your {relative} doing after the surgery?",
        "She's recovering well, the doctors say {weeks} more weeks of rest.",
        "How long does {S}'s {relative} still need to rest?",
    ),
    (
        "{O}, did your son enjoy the science camp?",
        "He loved it, he built a small robot that follows a line.",
        "What did {S}'s son build at camp?",
    ),
]
PHOTO = [
    (
        "[shares a photo: a golden dog asleep on a pile of autumn leaves in {city}]",
        "What picture of a pet did {S} send?",
    ),
    (
        "[shares a photo: a homemade chocolate cake with {n} candles on a blue plate]",
        "What did the birthday dessert {S} showed look like?",
    ),
    (
        "[shares a photo: a red kayak on a misty lake at sunrise]",
        "Which boat picture did {S} post?",
    ),
]
FILL = {
    "relative": ["sister", "brother", "aunt", "cousin", "mother"],
    "employer": ["city library", "harbour office", "children's hospital", "botanical garden"],
    "city": ["Porto", "Denver", "Glasgow", "Krakow", "Austin"],
    "landmark": ["river", "old market", "train station", "park"],
    "month": ["March", "June", "September", "November"],
    "venue": ["community centre", "art school", "library"],
    "thing": ["vase", "mug", "bowl", "teapot"],
    "place": ["Norway", "Chile", "Japan", "Canada"],
    "n": ["three", "five", "seven", "eight"],
    "weeks": ["two", "three", "four"],
}


def _fill(rng: random.Random) -> dict[str, str]:
    return {k: rng.choice(v) for k, v in FILL.items()}


def hard(seed: int) -> Dialog:
    """A conversation from `memory_dialogs.generate` with the harder kinds of exchange mixed
    into new sessions, every question tagged with its "type"."""
    rng = random.Random(1000 + seed)
    base = generate(seed)
    dialog = Dialog(
        turns=list(base.turns), questions=[{**q, "type": "plain"} for q in base.questions]
    )
    a, b = sorted({t["text"].split(":", 1)[0] for t in base.turns})[:2]
    when = datetime.fromisoformat(base.turns[-1]["created_at"])
    session = int(base.turns[-1]["id"][1:].split(":")[0])
    later: list[tuple[str, str, str, str]] = []  # (owner, text, question, first evidence)

    def new_session(lines: list[tuple[str, str]]) -> list[str]:
        nonlocal when, session
        session += 1
        when += timedelta(days=rng.randint(4, 9))
        ids = []
        padded = [(rng.choice([a, b]), rng.choice(FILLER)), *lines]
        padded += [(rng.choice([a, b]), rng.choice(FILLER))]
        for n, (who, text) in enumerate(padded, 1):
            dialog.turns.append(
                {
                    "text": f"{who}: {text}",
                    "id": f"D{session}:{n}",
                    "created_at": (when + timedelta(minutes=n)).isoformat(),
                }
            )
            ids.append(f"D{session}:{n}")
        return ids[1:-1]

    def ask(query: str, evidence: list[str], kind: str) -> None:
        dialog.questions.append({"query": query, "evidence": evidence, "type": kind})

    for i, (said, question) in enumerate(PARAPHRASE):
        owner, f = (a, b)[i % 2], _fill(rng)
        [turn] = new_session([(owner, said.format(**f))])
        ask(question.format(S=owner, **f), [turn], "paraphrase")
        day = when + timedelta(minutes=2)
        ask(f"What did {owner} tell me on {day:%B} {day.day}?", [turn], "temporal")
    for i, (plan, outcome, question) in enumerate(PLANS):
        owner, f = (b, a)[i % 2], _fill(rng)
        [first] = new_session([(owner, plan.format(**f))])
        later.append((owner, outcome.format(**f), question.format(S=owner, **f), first))
    for i, (asked, answer, question) in enumerate(PRONOUN):
        owner, f = (a, b)[i % 2], _fill(rng)
        friend = b if owner == a else a
        turns = new_session([(friend, asked.format(O=owner, **f)), (owner, answer.format(**f))])
        ask(question.format(S=owner, **f), [turns[1]], "pronouns")
    for i, (photo, question) in enumerate(PHOTO):
        owner, f = (b, a)[i % 2], _fill(rng)
        [turn] = new_session([(owner, photo.format(**f))])
        ask(question.format(S=owner, **f), [turn], "photo")
    for owner, outcome, question, first in later:
        [second] = new_session([(owner, outcome)])
        ask(question, [first, second], "two_sessions")
    return dialog
