"""The shapes of sentences in which people state lasting things about themselves ("my sister is
called Ana", "I drive a red Volvo", "we adopted a cat called Miso"), each with the slot it fills.

A slot ("sister name", "home city") lets a later value replace an earlier one; a rule without a
slot only adds. Rules are tried in order and the first match wins.
"""

from __future__ import annotations

import re

PEOPLE = (
    r"sister|brother|mother|mom|mum|father|dad|wife|husband|partner|son|daughter|friend|"
    r"best friend|boss|manager|colleague|coworker|neighbou?r|dog|cat|horse|parrot|pet|puppy|"
    r"kitten|girlfriend|boyfriend|fianc[eé]e?|grandmother|grandfather|grandma|grandpa|aunt|"
    r"uncle|cousin|niece|nephew|parents|kids|children|twins|baby|in-laws"
)
_I_AM = r"\bi(?:'m| am)"
_LONG = r"^(?=(?:\S+\s+){3,}\S)"  # four words or more: "my pleasure" says nothing
_I_HAVE = r"\bi(?:'ve| have)"
# Verbs with which people state how their life is (and not what they want from the assistant).
_LIFE_VERBS = (
    r"have|own|keep|drive|ride|speak|play|support|teach|study|grow|wear|take|drink|eat|"
    r"collect|volunteer|go to|train|run|ran|married|got|joined|started|adopted|bought|commute|"
    r"celebrate|visit|cook|sing|paint|knit|swim|climb|use|bake|do|work|live|leave|fly|travel|"
    r"signed up|can \w+"
)
_WE_VERBS = (
    r"have|had|adopted|bought|moved|live|got|go|celebrate|named|own|married|are expecting|"
    r"visit|keep|always|usually|met|tied|take"
)

# (pattern, kind, slot template)
RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?)(?:'s name)? is (?:called|named) (?P<v>.+)", re.I),
        "fact",
        "{rel} name",
    ),
    (re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?)'s name is (?P<v>.+)", re.I), "fact", "{rel} name"),
    (re.compile(_I_AM + r" allergic to (?P<v>.+)", re.I), "fact", "allergy {v}"),
    (re.compile(_I_AM + r" allergic\b", re.I), "fact", ""),
    (re.compile(r"\bblood (?:type|group)\b", re.I), "fact", "blood type"),
    (re.compile(r"\bi was born on (?P<v>.+)", re.I), "fact", "birthday"),
    (re.compile(r"\bi (?:live|reside) in (?P<v>.+)|\bwhere i live\b", re.I), "fact", "home city"),
    (
        re.compile(_I_HAVE + r" (?:lived|been living) in (?P<v>.+)", re.I),
        "fact",
        "home city",
    ),
    (
        re.compile(r"\bi(?:'ve| have)? (?:just )?(?:moved|relocated) to (?P<v>.+)", re.I),
        "fact",
        "home city",
    ),
    (re.compile(r"\bi work as (?P<v>.+)", re.I), "fact", "occupation"),
    (
        re.compile(r"\bi work (?:at|for) (?P<v>.+)|" + _I_AM + r" employed (?:by|at)", re.I),
        "fact",
        "employer",
    ),
    (
        re.compile(
            _I_AM + r" (?:a|an) (?!.*\b(?:fan|lover|parent|big|huge)\b)(?P<v>[a-z ]{3,40})$", re.I
        ),
        "fact",
        "occupation",
    ),
    (
        re.compile(_I_AM + r" (?P<v>\d{1,3})(?: years old)?$|\bi turned (?P<t>\d{1,3})\b", re.I),
        "fact",
        "age",
    ),
    (re.compile(r"\bi was born in (?P<v>.+)", re.I), "fact", "born in"),
    (
        re.compile(r"\bi (?:grew up|was raised|was brought up) in (?P<v>.+)", re.I),
        "fact",
        "grew up in",
    ),
    (
        re.compile(
            r"\bi(?:'m| am|'ve been| have been) (?:a )?"
            r"(?:vegan|vegetarian|pescatarian|lactose intolerant|diabetic)",
            re.I,
        ),
        "fact",
        "diet",
    ),
    (re.compile(r"\bmy (?P<rel>[a-z' ]{2,30}?) is (?P<v>.+)", re.I), "fact", "{rel}"),
    (re.compile(r"\bmy (?P<rel>" + PEOPLE + r")\b.{3,}", re.I), "fact", ""),
    (
        re.compile(r"\bi (?:really )?(?:prefer|like|love|enjoy|adore) (?P<v>.+)", re.I),
        "preference",
        "",
    ),
    (
        re.compile(r"\bi (?:really )?(?:hate|dislike|can't stand|don't like) (?P<v>.+)", re.I),
        "preference",
        "",
    ),
    (re.compile(r"\bcall me (?P<v>.+)", re.I), "preference", "preferred name"),
    (
        re.compile(r"\bi (?:want|hope|plan|dream) (?:of|to) \w+ing\b|\bi dream of\b", re.I),
        "preference",
        "",
    ),
    (
        re.compile(r"\bi (?:want|hope|plan) to (?:visit|travel|go|see|move|learn|live)\b", re.I),
        "preference",
        "",
    ),
    (
        re.compile(
            r"\bi (?:usually |always |often |also )?(?:"
            + _LIFE_VERBS
            + r")\b.{3,}|"
            + _LONG
            + r".*\bi (?:"
            + _LIFE_VERBS
            + r")\b",
            re.I,
        ),
        "fact",
        "",
    ),
    (
        re.compile(
            _I_HAVE + r" (?:been|lived|worked|played|loved|watched|read|had|owned|known)\b.{3,}",
            re.I,
        ),
        "fact",
        "",
    ),
    (
        re.compile(
            _I_AM + r" (?:employed|married|engaged|divorced|single|retired|learning|studying|"
            r"training|from|originally from|flying|moving|running|starting|saving|a parent|one of|"
            r"growing|working|\d)",
            re.I,
        ),
        "fact",
        "",
    ),
    (re.compile(r"\bwe (?:" + _WE_VERBS + r")\b.{3,}", re.I), "fact", ""),
    (
        re.compile(r"\bour (?P<rel>[a-z' ]{2,30}?) (?:is|are|was|has|have|just)\b.{2,}", re.I),
        "fact",
        "",
    ),
    (re.compile(r"\b(?:her|his|their) name(?:'s| is) [A-Z]"), "fact", ""),
    (re.compile(r"^(?:grandma|grandpa|granny|nana|mum|mom|dad|auntie)\b.{6,}", re.I), "fact", ""),
    (re.compile(_LONG + r".*\bmy (?P<rel>[a-z][a-z']+)\b", re.I), "fact", ""),
]

# Not statements: questions, wishes, requests to the assistant.
HYPOTHETICAL = re.compile(r"\b(?:if|would|could|maybe|might|wonder)\b", re.I)
NOT_A_FACT = re.compile(
    r"\?$|"
    r"\bi(?:'m| am) not sure\b|"
    r"^(?:(?:please|hey|ok|okay)[, ]+)?(?:remember|forget|note that|keep in mind|don't forget)\b|"
    r"^(?:can|will|please (?:help|tell|show|explain|write)|tell|help|show|explain|write|"
    r"give|make|fix|let's|how|what|why|where|when|who|which|do|does|is|are)\b|"
    r"\bi (?:think|guess|mean|need (?:help|you)|want you|was wondering|have (?:a |an |one |no )?"
    r"(?:question|problem|issue|idea|doubt|suggestion|request)|have to)\b",
    re.I,
)

# "my question is", "my guess is": not facts about the user.
NOT_RELATIONS = {
    "question",
    "guess",
    "point",
    "problem",
    "issue",
    "answer",
    "bad",
    "god",
    "goodness",
    "pleasure",
    "apologies",
    "idea",
    "plan",
    "request",
    "turn",
    "understanding",
    "concern",
    "code",
    "computer",
    "message",
    "mistake",
    "own",
    "opinion",
    "thoughts",
    "head",
}

_PRONOUN = re.compile(r"^(?:she|he|they)(?P<verb>'s| is| are|'re|\s)\s*", re.I)
_PERSON = re.compile(r"\bmy (" + PEOPLE + r")\b", re.I)


FAVOURITE = re.compile(r"\bmy (?:favou?rite|fave|all-time favou?rite)\b", re.I)


def not_a_fact(sentence: str) -> bool:
    """Questions, requests, and wishes ("I could eat ramen every day" unless it names a
    favourite)."""
    if NOT_A_FACT.search(sentence):
        return True
    return bool(HYPOTHETICAL.search(sentence)) and not FAVOURITE.search(sentence)


def person_in(sentence: str) -> str | None:
    """The first relation the sentence names ("my sister ..." -> "sister")."""
    m = _PERSON.search(sentence)
    return m.group(1).lower() if m else None


def resolve_pronoun(sentence: str, person: str | None) -> str | None:
    """ "She lives in Lisbon" after a sentence about "my sister" -> "My sister lives in Lisbon":
    a memory must stay true read on its own."""
    m = _PRONOUN.match(sentence)
    if m is None or person is None:
        return None
    rest = sentence[m.end() :]
    verb = m.group("verb").strip()
    if verb in ("'s", "is", "are", "'re"):
        be = "are" if person in ("parents", "kids", "children", "twins", "in-laws") else "is"
        rest = f"{be} {rest}"
    if len(rest.split()) < 2:
        return None
    return f"My {person} {rest}"


def value(text: str | None) -> str:
    """A slot value without the rest of the sentence ("peanuts, by the way" -> "peanuts")."""
    return re.split(r"[,;:!?.]| and | but | because ", text or "")[0].strip()
