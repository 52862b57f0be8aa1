"""The anchor set: general text that training holds the adapter to the base model on
(`resources/anchor.json`), so that what is learnt for the answers changes ordinary text as
little as it can.

The gate allows an adapter at most 5% more perplexity on the neutral set; a preference about
form (bullet points, a closing line) makes ordinary prose less likely too, and the gate then
has to weaken the whole adapter, preference included. Holding the adapter's predictions on
other general text to the base's (a KL term, like the hold on the words an edit kept) teaches
it to leave text outside the answers alone. The anchor texts are not the neutral set: what
measures the harm is never trained on.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

from app.adapters.dataset import IGNORE, KEPT

log = logging.getLogger(__name__)

ANCHOR_FILE = Path(__file__).resolve().parents[2] / "resources" / "anchor.json"


@functools.cache
def texts() -> tuple[str, ...]:
    """The shipped texts; none (no anchor) if the file is missing or unreadable."""
    try:
        data = json.loads(ANCHOR_FILE.read_text(encoding="utf-8"))
        return tuple(str(t["text"]) for t in data["texts"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("anchor texts unreadable (%s): training without them", exc)
        return ()


# Each text is held in pieces of at most this many tokens, one piece a training step: every
# position of a piece costs the output layer (the whole vocabulary), and a step's examples
# cost that only on their answers.
PIECE_TOKENS = 48


def sequences(tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) of the texts' pieces, each as plain text after the start token, every
    position after the first labelled KEPT: held to the base, never a target."""
    from app.adapters.neutral import bos_id

    bos = bos_id(tokenizer)  # the start token, as the neutral set's texts get it
    head = [bos] if bos is not None else []
    out = []
    for text in texts():
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        for start in range(0, len(ids), PIECE_TOKENS):
            piece = head + ids[start : start + PIECE_TOKENS]
            if len(piece) > 8:  # a short tail teaches next to nothing
                out.append((piece, [IGNORE] + [KEPT] * (len(piece) - 1)))
    return out
