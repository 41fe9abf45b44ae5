"""The deliverable of a digital product: the file the buyer downloads.

The catalog brain renders it from the generated content (a PDF through fpdf2), stores it in the media
storage (local folder or object storage, whatever `STORAGES["default"]` is) and records `asset.created`.
A digital product without its file cannot be published or sold.
"""

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify

from autonomax.errors import ConflictError
from autonomax.services import event_record

from ..models import Product, ProductDraft


def _latin1(text: str) -> str:
    """The PDF core fonts are Latin-1: typographic characters become their plain equivalents."""
    table = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
             "\u2026": "...", "\u2022": "-", "\u00a0": " ", "\u2192": "->", "\u00d7": "x"}
    text = "".join(table.get(ch, ch) for ch in str(text or ""))
    return text.encode("latin-1", "replace").decode("latin-1")


def _para(pdf, height: int, text: str) -> None:
    """A paragraph across the page width, then back to the left margin on the next line."""
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def deliverable_render_pdf(*, title: str, description: str, sections: list[str], company_name: str) -> bytes:
    """A PDF guide: the title, what it is, then one page section per asset the draft lists."""
    from fpdf import FPDF  # noqa: PLC0415  (loaded when a deliverable is rendered, not at start-up)

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_author(_latin1(company_name))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    _para(pdf, 10, _latin1(title))
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 11)
    _para(pdf, 6, _latin1(description) or " ")
    for number, section in enumerate(sections, start=1):
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 14)
        _para(pdf, 8, _latin1(f"{number}. {section}"))
        pdf.set_font("Helvetica", "", 11)
        _para(pdf, 6, _latin1(f"Use this part of \"{title}\": {section}. Work through it at your own pace; "
                                     "each step builds on the one before."))
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 9)
    _para(pdf, 5, _latin1(f"(c) {company_name}. For the buyer's personal use."))
    return bytes(pdf.output())


def _sections(assets) -> list[str]:
    labels = []
    for asset in assets or []:
        label = asset.get("label") or asset.get("name") or asset.get("title") if isinstance(asset, dict) else asset
        if str(label or "").strip():
            labels.append(str(label).strip()[:200])
    return labels


@transaction.atomic
def product_deliverable_render(*, product: Product, draft: ProductDraft | None = None,
                               correlation_id: str = "") -> Product:
    """Render the product's PDF from its draft (or its own text), store it, record `asset.created`.
    A product that already has its file keeps it."""
    if product.asset:
        return product
    source = draft or product.drafts.order_by("-created_at").first()
    title = source.title if source else product.name
    description = source.description if source else product.description
    data = deliverable_render_pdf(title=title, description=description,
                                  sections=_sections(source.assets if source else []),
                                  company_name=product.company.name)
    name = f"{slugify(product.name)[:80] or 'product'}.pdf"
    product.asset.save(name, ContentFile(data), save=False)
    Product.objects.filter(pk=product.pk).update(asset=product.asset.name)
    event_record(company=product.company, name="asset.created", correlation_id=correlation_id,
                 payload={"product_id": product.pk, "draft_id": source.pk if source else None,
                          "file": product.asset.name, "content_type": "application/pdf", "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()})
    return product


def product_deliverable_require(*, product: Product) -> None:
    """A digital product is published or sold only with its file."""
    if product.kind == Product.Kind.DIGITAL and not product.asset:
        raise ConflictError(f"'{product.name}' has no deliverable file yet: nothing could be delivered to a buyer.",
                            code="deliverable_missing", status=422)
