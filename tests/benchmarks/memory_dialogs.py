"""A generator of long multi-session conversations between two friends, with questions whose
answers sit in known turns (evidence ids "D<session>:<turn>"), for measuring memory recall.

Deterministic for a seed. Answers are often in a follow-up turn that does not repeat the topic's
words (so neighbouring context matters), and questions paraphrase (so lexical search alone fails).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

NAMES = [
    "Caroline",
    "Melanie",
    "Jon",
    "Gina",
    "Audrey",
    "Andrew",
    "Nate",
    "Joanna",
    "Tim",
    "John",
    "Maria",
    "Deborah",
    "Evan",
    "Sam",
    "Calvin",
    "Dave",
    "Jolene",
    "James",
    "Lena",
    "Omar",
]
FILLER = [
    "Hey! How have you been?",
    "Pretty busy lately, but good. You?",
    "Same old, same old.",
    "Haha, totally.",
    "That sounds fun!",
    "I know, right?",
    "Anyway, enough about me.",
    "The weather has been crazy this week.",
    "Did you catch the game on Sunday?",
    "Not really, I fell asleep on the couch.",
    "Talk soon, take care!",
    "Bye! Speak soon.",
    "Oh wow, really?",
    "I'm so happy for you.",
    "Work has been hectic, to be honest.",
    "We should grab coffee sometime.",
    "Definitely, let me know when you're free.",
    "I've been sleeping badly, too much screen time.",
    "Lol, that's so you.",
    "Thanks, that means a lot.",
    "Good to hear from you!",
    "Ugh, Mondays.",
]
SLOTS = {
    "animal": ["puppy", "kitten", "rabbit", "parrot", "hamster", "tortoise"],
    "petname": ["Biscuit", "Luna", "Pepper", "Mochi", "Ziggy", "Olive", "Bruno", "Nala"],
    "petact": ["chasing leaves", "sleeping on my laptop", "stealing socks", "long walks"],
    "job": ["nurse", "data analyst", "graphic designer", "teacher", "chef", "electrician"],
    "company": ["Brightwave", "Northfield Clinic", "Pixel Forge", "Green Leaf Cafe", "Solara"],
    "commute": ["forty minutes", "an hour and a half", "twenty minutes", "almost two hours"],
    "place": ["Iceland", "Kyoto", "Lisbon", "the Grand Canyon", "Tuscany", "Vancouver"],
    "sight": ["a glacier lagoon", "an old temple", "a sunset cruise", "a cooking class"],
    "food": ["fresh pasta", "ramen", "grilled sardines", "dumplings", "tacos", "croissants"],
    "instrument": ["violin", "piano", "ukulele", "drums", "cello", "saxophone"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "teacher": ["Mr. Alvarez", "Mrs. Chen", "a guy called Rob", "Ms. Okafor", "Hannah"],
    "relative": ["sister", "brother", "grandmother", "uncle", "cousin", "aunt"],
    "rname": ["Ana", "Peter", "Rosa", "Ben", "Ines", "Marcus", "Leah", "Tomas"],
    "city": ["Porto", "Denver", "Nairobi", "Manila", "Glasgow", "Austin", "Krakow"],
    "venue": ["aquarium", "botanical garden", "science museum", "jazz club", "night market"],
    "bodypart": ["ankle", "wrist", "knee", "shoulder"],
    "sport": ["soccer", "basketball", "tennis", "volleyball", "climbing"],
    "weeks": ["two", "three", "four", "six"],
    "book": ["The Night Circus", "Educated", "Dune", "Circe", "The Overstory", "Becoming"],
    "btopic": [
        "a woman who escapes a strict family",
        "a war over a desert planet",
        "trees and the people who protect them",
        "a witch exiled to an island",
    ],
    "race": ["half marathon", "10K", "triathlon", "marathon", "charity fun run"],
    "rtime": [
        "Two hours and five minutes",
        "Fifty-two minutes",
        "Four hours flat",
        "One hour forty",
    ],
    "dislike": ["olives", "cilantro", "blue cheese", "mushrooms", "licorice"],
    "cause": ["the texture", "the smell", "a bad childhood memory", "the aftertaste"],
    "project": ["a vegetable garden", "a treehouse", "a quilt", "a podcast", "a mural"],
    "material": [
        "tomatoes and basil",
        "reclaimed wood",
        "old t-shirts",
        "two cheap mics",
        "bright acrylic paint",
    ],
}
# Each topic: three turns (statement by the owner, reply by the friend, detail by the owner)
# and questions naming the evidence turn(s): 0 = statement, 2 = detail.
TOPICS: list[tuple[list[str], list[tuple[str, list[int]]]]] = [
    (
        [
            "Guess what, I finally adopted a {animal} from the shelter!",
            "No way, that's amazing! What did you name it?",
            "We went with {petname}. Its favourite thing is {petact}.",
        ],
        [
            ("What is the name of {S}'s pet?", [2]),
            ("What kind of animal did {S} get?", [0]),
            ("Who is {petname}?", [2]),
        ],
    ),
    (
        [
            "I started a new job as a {job} at {company} this month.",
            "Congrats! How's it going so far?",
            "Honestly it's tiring, getting there takes {commute} each way, but the team is great.",
        ],
        [
            ("What does {S} do for a living now?", [0]),
            ("How long does {S} spend travelling to work?", [2]),
            ("What did {S} say about working at {company}?", [0]),
        ],
    ),
    (
        [
            "We just got back from a trip to {place}!",
            "Jealous! What did you get up to there?",
            "We saw {sight} and ate way too many {food}.",
        ],
        [("Where did {S} go on holiday?", [0]), ("What did {S} eat on the trip to {place}?", [2])],
    ),
    (
        [
            "I've been learning to play the {instrument} lately.",
            "Oh cool, are you taking lessons?",
            "Yes, every {weekday} with {teacher}.",
        ],
        [
            ("Who gives {S} music lessons?", [2]),
            ("Which instrument is {S} learning?", [0]),
            ("When does {S} see {teacher}?", [2]),
        ],
    ),
    (
        [
            "My {relative} {rname} is coming to visit from {city} next week.",
            "That's lovely, what are you two planning?",
            "We want to check out the {venue}, {rname} has never been.",
        ],
        [
            ("Which family member is visiting {S} from {city}?", [0]),
            ("Where does {S} plan to take their visitor?", [2]),
            ("Who is {rname}?", [0]),
        ],
    ),
    (
        [
            "I hurt my {bodypart} playing {sport} on {weekday}.",
            "Ouch! Did you get it checked?",
            "Yeah, the physio told me to rest for {weeks} weeks.",
        ],
        [
            ("How long was {S} told to rest after getting injured?", [2]),
            ("What sport was {S} playing when they got hurt?", [0]),
        ],
    ),
    (
        [
            "I'm reading {book} right now and can't put it down.",
            "Ooh, what's it about?",
            "It follows {btopic}, really moving.",
        ],
        [
            ("What novel has {S} been reading?", [0]),
            ("What is the story of {S}'s book about?", [2]),
            ("Did {S} like {book}?", [0]),
        ],
    ),
    (
        [
            "I ran my first {race} last weekend!",
            "Wow, well done! What was your time?",
            "{rtime}. Slower than I hoped, but I finished.",
        ],
        [("What was {S}'s finishing time in the race?", [2]), ("Which race did {S} run?", [0])],
    ),
    (
        [
            "Can I confess something? I really can't stand {dislike}.",
            "Ha, why not?",
            "It's {cause}, it just puts me off completely.",
        ],
        [("Which food does {S} dislike?", [0]), ("Why does {S} avoid that food?", [2])],
    ),
    (
        [
            "I've started building {project} in my spare time.",
            "That sounds like a fun project. What are you using?",
            "Mostly {material}, nothing fancy.",
        ],
        [
            ("What is {S}'s spare-time project?", [0]),
            ("What materials is {S} using?", [0, 2]),
            ("What is {S} doing with {material}?", [2]),
        ],
    ),
]


@dataclass
class Dialog:
    turns: list[dict[str, str]] = field(default_factory=list)  # text, id, created_at
    questions: list[dict[str, object]] = field(default_factory=list)  # query, evidence


def generate(
    seed: int,
    sessions: int = 12,
    topics_per_session: int = 2,
    names: tuple[str, str] | None = None,
) -> Dialog:
    """One conversation. Each (topic, speaker) pair happens once, so every question has one
    right place to look; everything else is a distractor."""
    rng = random.Random(seed)
    a, b = rng.sample(NAMES, 2)
    if names is not None:
        a, b = names
    start = datetime(2023, 1, 1) + timedelta(days=rng.randint(0, 200))
    unused = [(t, o) for t in range(len(TOPICS)) for o in (a, b)]
    rng.shuffle(unused)
    dialog = Dialog()
    when = start
    for s in range(1, sessions + 1):
        when += timedelta(days=rng.randint(5, 12), hours=rng.randint(-4, 4))
        lines: list[str] = []
        pending: list[tuple[str, list[int]]] = []
        for _ in range(rng.randint(2, 5)):
            lines.append(f"{rng.choice([a, b])}: {rng.choice(FILLER)}")
        for _ in range(topics_per_session):
            if not unused:
                break
            topic, owner = unused.pop()
            friend = b if owner == a else a
            turns, questions = TOPICS[topic]
            fill = {k: rng.choice(v) for k, v in SLOTS.items()}
            base = len(lines)
            for i, template in enumerate(turns):
                lines.append(f"{owner if i != 1 else friend}: {template.format(**fill)}")
            for _ in range(rng.randint(1, 4)):
                lines.append(f"{rng.choice([a, b])}: {rng.choice(FILLER)}")
            for q, ev in questions:
                pending.append((q.format(S=owner, **fill), [base + e for e in ev]))
        for n, text in enumerate(lines, 1):
            dialog.turns.append(
                {
                    "text": text,
                    "id": f"D{s}:{n}",
                    "created_at": (when + timedelta(minutes=n)).isoformat(),
                }
            )
        for query, positions in pending:
            dialog.questions.append(
                {"query": query, "evidence": [f"D{s}:{p + 1}" for p in positions]}
            )
    return dialog
