"""A synthetic memory collection for speed measurements: distinct texts whose words follow a Zipf
law over a real English vocabulary, and vectors that are not near-copies of each other.

Words: the whole words of the packaged embedder's WordPiece vocabulary, which lists them roughly
from most to least frequent; word r is drawn with probability ~ 1/r^1.07 (Zipf), so a few words
are in most texts and most words are rare, as in people's notes. Vectors: real embeddings of a
few thousand texts from the same generator ("seeds"), each synthetic vector a seed plus Gaussian
noise shaped like the seeds' own spread (their principal components), scaled so that synthetic
vectors lie as far from their nearest neighbours as real ones do: neighbours, not copies.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ZIPF_S = 1.07
# Noise scale at which 4000 synthetic vectors have the median nearest-neighbour cosine of 4000
# real embeddings of distinct texts (0.56; noise 0.75 gave 0.66, 1.0 gave 0.52).
NOISE = 0.9
TEMPLATES = [
    "{N}: I {w} the {w} {w} at {w} last {d}.",
    "{N}: We {w} {w} {w} and {w} with {N2} on {d}.",
    "My {w} {w} is {w}, {w} {w} since {y}.",
    "{N}: Did you {w} my {w} {w}? It was {w} and {w}.",
    "Note: {w} {w} {w} for the {w} {w} before {d}.",
    "{N}: {N2} said the {w} {w} was {w} {w} {w}.",
    "I {w} {w} {w} in {w}, {w} {w} {w} {w}.",
    "{N}: Remember the {w} {w} {w} in {y}? {w} {w}!",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
QUESTIONS = [
    "What did {N} say about the {w} {w}?",
    "When did I {w} the {w}?",
    "Where is my {w} {w}?",
    "What do I know about {w} and {w}?",
    "Who told me about the {w} {w} in {y}?",
    "Did {N} ever {w} {w}?",
]


def vocabulary() -> list[str]:
    """Whole English words of the embedder's vocabulary, most frequent first."""
    from app.memory.embedder import packaged_model_path

    lines = (Path(packaged_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    from app.memory.search import STOPWORDS

    # Function words come from the templates; the slots take content words.
    return [w for w in lines if re.fullmatch(r"[a-z]{3,}", w) and w not in STOPWORDS]


class Corpus:
    def __init__(self, seed: int = 0) -> None:
        self.words = vocabulary()
        ranks = np.arange(1, len(self.words) + 1, dtype=np.float64)
        p = ranks**-ZIPF_S
        self.cdf = np.cumsum(p / p.sum())
        rng = np.random.default_rng(seed)
        self.names = [w.capitalize() for w in rng.choice(self.words[2000:8000], 300, False)]

    def _fill(self, template: str, rng: np.random.Generator) -> str:
        n_words = template.count("{w}")
        idx = np.searchsorted(self.cdf, rng.random(n_words))
        words = iter(self.words[i] for i in idx)
        out = re.sub(r"\{w\}", lambda _m: next(words), template)
        return out.format(
            N=self.names[int(rng.integers(len(self.names)))],
            N2=self.names[int(rng.integers(len(self.names)))],
            d=DAYS[int(rng.integers(7))],
            y=int(rng.integers(1990, 2027)),
        )

    def texts(self, n: int, seed: int) -> list[str]:
        """`n` distinct texts (a repeat is drawn again)."""
        rng = np.random.default_rng(seed)
        seen: set[str] = set()
        out: list[str] = []
        while len(out) < n:
            text = self._fill(TEMPLATES[int(rng.integers(len(TEMPLATES)))], rng)
            if text not in seen:
                seen.add(text)
                out.append(text)
        return out

    def questions(self, n: int, seed: int) -> list[str]:
        """`n` distinct questions in the corpus's words."""
        rng = np.random.default_rng(seed)
        seen: list[str] = []
        while len(seen) < n:
            q = self._fill(QUESTIONS[int(rng.integers(len(QUESTIONS)))], rng)
            if q not in seen:
                seen.append(q)
        return seen


class Vectors:
    """Synthetic unit vectors around real seed embeddings, with the seeds' own anisotropy."""

    def __init__(self, seeds: np.ndarray, noise: float = NOISE) -> None:
        self.seeds = np.asarray(seeds, dtype=np.float32)
        centred = self.seeds - self.seeds.mean(axis=0)
        _u, s, vt = np.linalg.svd(centred, full_matrices=False)
        self.basis = (s[:, None] / np.sqrt(len(seeds)) * vt).astype(np.float32)
        self.noise = noise

    def sample(self, n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.seeds.shape[1]), dtype=np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            base = self.seeds[rng.integers(0, len(self.seeds), m)]
            z = rng.standard_normal((m, self.basis.shape[0]), dtype=np.float32)
            v = base + self.noise * (z @ self.basis)
            out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out


def nearest_cosines(vecs: np.ndarray, sample: int = 500, seed: int = 0) -> dict[str, float]:
    """Median and 99th percentile of a sampled vector's cosine to its nearest other vector:
    near-copies show as values close to 1."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vecs), min(sample, len(vecs)), replace=False)
    best = np.full(len(pick), -1.0, dtype=np.float32)
    for start in range(0, len(vecs), 100_000):
        block = vecs[start : start + 100_000]
        sims = block @ vecs[pick].T
        for j, i in enumerate(pick):
            if start <= i < start + len(block):
                sims[i - start, j] = -1.0
        best = np.maximum(best, sims.max(axis=0))
    return {
        "p50": round(float(np.median(best)), 3),
        "p99": round(float(np.percentile(best, 99)), 3),
    }
