"""The embedder's lean path for one question gives the library's own vector."""

from __future__ import annotations

from typing import Any

import numpy as np


def test_one_question_gets_the_same_vector_as_a_batch(embedder: Any) -> None:
    texts = [
        "Where does my sister live?",
        "What did Caroline say about the adoption agency last week?",
        "",
        "word " * 400,  # longer than the model's window: cut the same way
    ]
    runner = embedder._ensure()
    assert runner.single is not None  # the lean path is in use for this model
    batch = embedder.embed(texts)
    for text, expected in zip(texts, batch, strict=True):
        alone = embedder.embed_one(text)
        assert alone.shape == (384,) and abs(float(np.linalg.norm(alone)) - 1.0) < 1e-4
        assert float(alone @ expected) > 0.999
    # And the library's path for one text agrees too (the lean path is not a different model).
    library = runner._forward(runner.model, [texts[0]])[0]
    assert float(embedder.embed_one(texts[0]) @ library) > 0.999
