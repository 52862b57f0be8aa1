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


def test_loading_writes_nothing_to_the_environment(monkeypatch: Any) -> None:
    """The embedder loads on a background thread while llama.cpp may read the environment on
    another: a setenv then can crash the process, so loading sets nothing already set."""
    import os

    from app.memory import embedder as module
    from app.privacy.guard import set_offline_env

    set_offline_env()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    written: list[str] = []
    monkeypatch.setattr(os, "putenv", lambda key, _value: written.append(key))
    runner = module._load_model(1)
    assert runner.single is not None and written == []
