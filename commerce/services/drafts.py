"""The catalog brain: a ProductBrief becomes a ProductDraft through the AI engine, behind a quality gate."""

from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from autonomax.errors import AppError, ConflictError
from autonomax.services import event_record

from ..models import Product, ProductDraft
from .deliverables import product_deliverable_render

DUPLICATE_RATIO = 0.85
RUBRIC_KEYS = ("readability", "intent_match", "uniqueness", "seo", "brand_fit")


def _normalise(title: str) -> str:
    return " ".join(slugify(title).split("-"))


def near_duplicate_titles(*, company, title: str, exclude_draft_id: int | None = None) -> list[str]:
    """Existing product names and draft titles of the company that nearly match `title`."""
    wanted = _normalise(title)
    names = list(Product.objects.filter(company=company).values_list("name", flat=True))
    drafts = ProductDraft.objects.filter(company=company).exclude(status=ProductDraft.Status.REJECTED)
    if exclude_draft_id:
        drafts = drafts.exclude(pk=exclude_draft_id)
    names += list(drafts.values_list("title", flat=True))
    return sorted({n for n in names if SequenceMatcher(None, wanted, _normalise(n)).ratio() >= DUPLICATE_RATIO})


def draft_generate(*, company, brief: dict, actor=None, correlation_id: str = "") -> ProductDraft:
    """Ask the AI engine (task `product_draft`, schema ProductDraftOut) for a draft; keep it even if it is
    below the gate (it just cannot be published until a person overrides)."""
    from chimera.ai.schemas import ProductDraftOut
    from chimera.ai.services import ai_generate

    keywords = [str(k).strip() for k in brief.get("keywords") or [] if str(k).strip()]
    if not keywords:
        raise AppError("The brief needs at least one keyword.", code="invalid_brief")
    prompt = (f"Write a product listing for a {brief.get('category', '')} product for {brief.get('audience', '')}. "
              f"Primary keyword: {keywords[0]}. Other keywords: {', '.join(keywords[1:])}.")
    result = ai_generate(company=company, task_type="product_draft", prompt=prompt, schema=ProductDraftOut,
                         correlation_id=correlation_id,
                         context={"category": brief.get("category", ""), "audience": brief.get("audience", ""),
                                  "keywords": keywords, "refs": list(brief.get("refs") or [])})
    data = result.data
    if data is None:
        raise AppError("The AI engine returned no structured draft.", code="ai_invalid_output", status=502)
    out = data if isinstance(data, dict) else data.model_dump()
    title = str(out.get("title", ""))[:70]
    if not title.lower().startswith(keywords[0].lower()):
        # The engine's schema validates this; a provider that slipped is not trusted silently.
        raise AppError("The AI draft's title does not start with the primary keyword.", code="ai_invalid_output",
                       status=502, details={"title": title})
    try:
        price = Decimal(str(out.get("price"))).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError):
        raise AppError("The AI draft has no valid price.", code="ai_invalid_output", status=502) from None
    rubric_src = out.get("rubric") or out.get("scores") or {k: out.get(k) for k in RUBRIC_KEYS}
    rubric = {k: float(v) for k, v in dict(rubric_src).items() if isinstance(v, (int, float))}
    with transaction.atomic():
        draft = ProductDraft.objects.create(
            company=company, brief={**brief, "keywords": keywords}, title=title,
            description=str(out.get("description", "")), tags=[str(t) for t in out.get("tags") or []],
            assets=list(out.get("assets") or []), price=price, rubric=rubric,
            ai_provider=f"{result.provider}/{result.model}"[:64], correlation_id=str(correlation_id)[:64],
            near_duplicates=near_duplicate_titles(company=company, title=title),
        )
        event_record(company=company, name="product.generated", correlation_id=correlation_id,
                     payload={"draft_id": draft.pk, "title": title, "rubric_average": draft.rubric_average,
                              "gate_passed": draft.gate_passed, "near_duplicates": draft.near_duplicates,
                              "provider": result.provider, "cost_usd": str(result.cost_usd)})
    return draft


@transaction.atomic
def draft_gate_override(*, draft: ProductDraft, actor, reason: str = "") -> ProductDraft:
    """A person lets a draft below the gate through; who, when and why is kept."""
    draft = ProductDraft.objects.select_for_update().get(pk=draft.pk)
    if draft.gate_override_at is None:
        draft.gate_override_by = actor if getattr(actor, "is_authenticated", False) else None
        draft.gate_override_at = timezone.now()
        draft.gate_override_reason = reason.strip()[:500]
        draft.save(update_fields=["gate_override_by", "gate_override_at", "gate_override_reason"])
    return draft


@transaction.atomic
def draft_update(*, draft: ProductDraft, actor, title: str, description: str, price, tags: list[str]) -> ProductDraft:
    """A person edits a draft waiting for review. The rubric scored the AI's text, so it stays as it was."""
    draft = ProductDraft.objects.select_for_update().get(pk=draft.pk)
    if draft.status != ProductDraft.Status.DRAFT:
        raise ConflictError("Only a draft waiting for review can be edited.", code="draft_not_editable")
    title = " ".join(str(title).split())
    if not title or len(title) > 70:
        raise AppError("The title needs 1 to 70 characters.", code="invalid", details={"field": "title"})
    try:
        price = Decimal(str(price)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError):
        price = None
    if price is None or not price.is_finite() or price <= 0 or price >= Decimal("1e9"):
        raise AppError("The price must be a positive amount.", code="invalid", details={"field": "price"})
    draft.title, draft.description, draft.price = title, str(description).strip(), price
    draft.tags = [t for t in (" ".join(str(tag).split())[:50] for tag in tags) if t][:20]
    draft.near_duplicates = near_duplicate_titles(company=draft.company, title=title, exclude_draft_id=draft.pk)
    draft.edited_by = actor if getattr(actor, "is_authenticated", False) else None
    draft.edited_at = timezone.now()
    draft.save(update_fields=["title", "description", "price", "tags", "near_duplicates", "edited_by", "edited_at"])
    return draft


@transaction.atomic
def draft_promote(*, draft: ProductDraft, actor=None) -> Product:
    """Turn a reviewed draft into an active Product. Promoting twice returns the same product."""
    draft = ProductDraft.objects.select_for_update().get(pk=draft.pk)
    if draft.status == ProductDraft.Status.PROMOTED and draft.product_id:
        return draft.product
    if draft.status == ProductDraft.Status.REJECTED:
        raise ConflictError("This draft was rejected.", code="draft_rejected")
    if not draft.gate_passed and draft.gate_override_at is None:
        raise ConflictError(
            f"This draft is below the quality gate (average {draft.rubric_average} < "
            f"{ProductDraft.GATE_MIN_AVERAGE}); a person must override it first.", code="below_quality_gate",
            status=422)
    base = slugify(draft.title)[:100] or "product"
    slug = base if not Product.objects.filter(slug=base).exists() else f"{base}-{draft.pk}"
    product = Product.objects.create(
        company=draft.company, sku=f"DRAFT-{draft.pk}", slug=slug, name=draft.title, description=draft.description,
        price=draft.price, currency=draft.company.currency, status=Product.Status.ACTIVE,
        kind=Product.Kind.DIGITAL,
    )
    draft.status = ProductDraft.Status.PROMOTED
    draft.product = product
    draft.save(update_fields=["status", "product"])
    # The buyer downloads a file, not a label: render it now, so the product is sellable as soon as it exists.
    product_deliverable_render(product=product, draft=draft, correlation_id=draft.correlation_id)
    return product


@transaction.atomic
def draft_reject(*, draft: ProductDraft) -> ProductDraft:
    updated = ProductDraft.objects.filter(pk=draft.pk, status=ProductDraft.Status.DRAFT).update(
        status=ProductDraft.Status.REJECTED)
    draft.refresh_from_db()
    if not updated and draft.status != ProductDraft.Status.REJECTED:
        raise ConflictError("Only a draft waiting for review can be rejected.")
    return draft
