"""The knowledge base: articles split into passages, and retrieval that returns passages with scores.

PostgreSQL ranks with its full-text search (a weighted tsvector per passage in the passage's language,
`ts_rank_cd` over an OR of the question's terms); the embedded SQLite default uses an FTS5 table with
BM25. Either way each hit also gets a `coverage`: the share of the question's content words found in the
passage, the same on both databases, which the copilot's confidence uses.
"""

import re
import unicodedata
from dataclasses import asdict, dataclass

from django.db import connection, transaction
from django.db.models import Case, F, FloatField, Q, Value, When

from autonomax.errors import AppError
from autonomax.models import Company

from .embeddings import embedding_search, embeddings_available, embeddings_enabled, passages_embed
from .models import KnowledgeArticle, KnowledgePassage

# PostgreSQL text-search configurations by language code; anything else uses 'simple'.
PG_CONFIGS = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
              "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "fi": "finnish"}
MAX_PASSAGE_CHARS = 1200

STOPWORDS = set("""
a about after again all also am an and any are as at be been before being but by can could did do does doing
done for from get got had has have having he her here hers him his how i if in into is it its just me more my
no not now of on once only or other our out over please so some such than that the their them then there these
they this to too up us very was we were what when where which who why will with would you your yours hi hello
thanks thank regards dear hey
der die das und ist ich nicht ein eine einen mit mein meine meinen sie es wie was wo wann bitte danke hallo auf
für von zu im am an den dem des auch noch schon habe hat haben kann können mir mich ihr ihre
el la los las un una y o de del que en por para con mi mis es no se su como hola gracias favor lo al
le les des et est je ne pas pour dans sur avec mon ma mes vous bonjour merci une du au
""".split())


def pg_config(language: str) -> str:
    return PG_CONFIGS.get((language or "en")[:2].lower(), "simple")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "en", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, accent-folded, crudely stemmed words that carry meaning (stop words and numbers out)."""
    words = re.findall(r"[^\W\d_]{2,}", (text or "").lower())
    return {_stem(_fold(w)) for w in words if w not in STOPWORDS and _fold(w) not in STOPWORDS}


def _query_terms(text: str) -> list[str]:
    terms = []
    for w in re.findall(r"[^\W\d_]{2,}|\d{3,}", (text or "").lower()):
        if w not in STOPWORDS and w not in terms:
            terms.append(w)
    return terms[:32]


def split_passages(body: str) -> list[str]:
    """Paragraphs (blank-line separated); a long paragraph is cut at sentence ends near MAX_PASSAGE_CHARS."""
    out = []
    for para in re.split(r"\n\s*\n", (body or "").strip()):
        para = " ".join(para.split())
        while len(para) > MAX_PASSAGE_CHARS:
            cut = para.rfind(". ", 0, MAX_PASSAGE_CHARS)
            cut = cut + 1 if cut > MAX_PASSAGE_CHARS // 3 else MAX_PASSAGE_CHARS
            out.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            out.append(para)
    return out


def _fts_delete(cursor, passage_ids: list[int]) -> None:
    placeholders = ",".join("%s" for _ in passage_ids)
    cursor.execute(f"DELETE FROM support_passage_fts WHERE passage_id IN ({placeholders})", passage_ids)


def _index(article: KnowledgeArticle, passages: list[KnowledgePassage], old_ids: list[int]) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE support_knowledgepassage p SET search_vector = "
                "setweight(to_tsvector(%s::regconfig, %s), 'A') || setweight(to_tsvector(%s::regconfig, p.text), 'B') "
                "WHERE p.article_id = %s",
                [pg_config(article.language), article.title, pg_config(article.language), article.pk])
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            if old_ids:
                _fts_delete(cursor, old_ids)
            cursor.executemany(
                "INSERT INTO support_passage_fts (text, passage_id, company_id) VALUES (%s, %s, %s)",
                [(f"{article.title}\n{p.text}", p.pk, article.company_id) for p in passages])


def article_save(*, company: Company, title: str, body: str, language: str = "en", is_published: bool = True,
                 article: KnowledgeArticle | None = None) -> KnowledgeArticle:
    """Create or update an article and re-split it into indexed passages, atomically."""
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title:
        errors["title"] = ["This field may not be blank."]
    if not body:
        errors["body"] = ["This field may not be blank."]
    if errors:
        raise AppError("Invalid article.", code="invalid", details=errors)
    with transaction.atomic():
        if article is None:
            article = KnowledgeArticle(company=company)
        elif article.company_id != company.pk:
            raise AppError("This article belongs to another company.", code="not_found", status=404)
        article.title, article.body, article.language = title[:200], body, (language or "en")[:8]
        article.is_published = is_published
        article.save()
        old_ids = list(article.passages.values_list("pk", flat=True))
        article.passages.all().delete()
        passages = KnowledgePassage.objects.bulk_create([
            KnowledgePassage(company=company, article=article, position=i, text=text, language=article.language)
            for i, text in enumerate(split_passages(body))])
        if connection.vendor == "sqlite" and any(p.pk is None for p in passages):
            passages = list(article.passages.all())
        _index(article, passages, old_ids)
        if embeddings_available():
            passages_embed(passages, article.title)
    return article


def article_delete(*, article: KnowledgeArticle) -> None:
    with transaction.atomic():
        old_ids = list(article.passages.values_list("pk", flat=True))
        if connection.vendor == "sqlite" and old_ids:
            with connection.cursor() as cursor:
                _fts_delete(cursor, old_ids)
        article.delete()


@dataclass(frozen=True)
class Passage:
    passage_id: int
    article_id: int
    title: str
    text: str
    language: str
    score: float  # full text: the database's rank, normalised to 0..1 (ts_rank_cd/(1+r) or bm25/(1+bm25));
    # embeddings: the cosine similarity
    coverage: float  # share of the question's content words found in the passage or its title

    def as_dict(self) -> dict:
        return asdict(self)


def _coverage(question_words: set[str], title: str, text: str) -> float:
    if not question_words:
        return 0.0
    return round(len(question_words & content_words(f"{title} {text}")) / len(question_words), 4)


def kb_search(*, company: Company, query: str, limit: int = 5, method: str = "") -> list[Passage]:
    """The best passages of the company's published articles for `query`, best first. `method` is
    "fulltext" or "embeddings" (default: SUPPORT_RETRIEVAL); embeddings fall back to full text when the
    model package is not installed or no passage has a vector."""
    terms = _query_terms(query)
    if not terms:
        return []
    words = content_words(query)
    rows = []
    if method == "embeddings" or (not method and embeddings_enabled()):
        rows = embedding_search(company, query, limit) if embeddings_available() else []
    if not rows and connection.vendor == "postgresql":
        rows = _pg_search(company, terms, limit)
    elif not rows:
        rows = _sqlite_search(company, terms, limit)
    hits = [Passage(passage_id=p.pk, article_id=p.article_id, title=p.article.title, text=p.text, language=p.language,
                    score=round(score, 4), coverage=_coverage(words, p.article.title, p.text)) for p, score in rows]
    return sorted(hits, key=lambda h: (-h.score, -h.coverage, h.passage_id))


def _pg_search(company, terms, limit):
    from django.contrib.postgres.search import SearchQuery, SearchRank  # noqa: PLC0415 - PostgreSQL only

    raw = " | ".join(f"'{t}'" for t in terms)
    languages = list(KnowledgePassage.objects.filter(company=company).values_list("language", flat=True).distinct())
    match, ranks = Q(), []
    for language in languages or ["en"]:
        query = SearchQuery(raw, config=pg_config(language), search_type="raw")
        match |= Q(language=language, search_vector=query)
        ranks.append(When(language=language, then=SearchRank(F("search_vector"), query, cover_density=True,
                                                              normalization=Value(32))))
    rows = (KnowledgePassage.objects.filter(company=company, article__is_published=True).filter(match)
            .select_related("article").annotate(rank=Case(*ranks, default=Value(0.0), output_field=FloatField()))
            .order_by("-rank", "pk")[:limit])
    return [(p, float(p.rank)) for p in rows]


def _sqlite_search(company, terms, limit):
    match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
    with connection.cursor() as cursor:
        cursor.execute("SELECT passage_id, bm25(support_passage_fts) AS r FROM support_passage_fts "
                       "WHERE support_passage_fts MATCH %s AND company_id = %s ORDER BY r LIMIT %s",
                       [match, company.pk, limit * 3])
        found = cursor.fetchall()
    by_id = {p.pk: p for p in KnowledgePassage.objects.filter(
        company=company, article__is_published=True, pk__in=[pid for pid, _ in found]).select_related("article")}
    out = []
    for pid, rank in found:
        if pid in by_id:
            x = max(0.0, -float(rank))
            out.append((by_id[pid], x / (1 + x)))
    return out[:limit]


def kb_reindex(*, company: Company) -> int:
    """Rebuild the passages and index of every article of the company (after a configuration change)."""
    count = 0
    for article in KnowledgeArticle.objects.filter(company=company):
        article_save(company=company, title=article.title, body=article.body, language=article.language,
                     is_published=article.is_published, article=article)
        count += 1
    return count


