"""The labelled ticket set and its evaluation: intent accuracy, auto-send precision and coverage at the
company's threshold. Used by tests/support/test_labelled_set.py and bench/support.py.

Two parts, reported apart:
- the tuning part (`labelled_tickets.jsonl`, 322 tickets from 63 templates by make_labelled.py): its author
  also wrote the intent hint words and the knowledge base, so its figures are optimistic;
- the held-out part (`heldout_tickets.jsonl`, 109 tickets written later by someone else: paraphrases, typos,
  German/Spanish/French, mixed intents; `style` says which). No rule, hint word or parameter was tuned on it:
  it is only ever evaluated."""

import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from commerce.models import DownloadGrant, Order, Refund
from support.copilot import ticket_process
from support.intents import intent_model_store, intent_pipeline, ticket_text
from support.knowledge import article_save
from support.models import Ticket
from support.tickets import Inbound, ticket_receive

from ..factories import CustomerFactory, OrderFactory, OrderItemFactory, ProductFactory

ROWS = Path(__file__).parent / "fixtures" / "labelled_tickets.jsonl"
HELDOUT = Path(__file__).parent / "fixtures" / "heldout_tickets.jsonl"

ARTICLES = {
    "pdf": ("en", "PDF will not open", "If the PDF will not open or shows an error, download it again from your link "
            "and open it with Adobe Reader or your browser; the PDF reader on some tablets cannot open large files."
            "\n\nA corrupt file almost always comes from an interrupted download: download it again."),
    "notion": ("en", "Duplicating Notion templates", "To use a Notion template, open the link while logged in to "
               "Notion and press Duplicate at the top right; the template is copied into your own workspace."
               "\n\nIf Duplicate shows an error or formulas break, log out and in again and duplicate into a "
               "workspace where you are an admin."),
    "licenses": ("en", "Licenses, teams and discounts", "Every purchase is a personal license for one person. Teams "
                 "buy a team license: 5 licenses or more get a 30% discount, and bundles of three templates cost "
                 "the price of two.\n\nA commercial license for client work is available; there is no coupon code "
                 "for first-time buyers, but a bulk order for schools gets the team discount."),
    "invoices": ("en", "Invoices and VAT", "Every receipt email includes a PDF invoice. For a VAT invoice with your "
                 "company name, reply to the receipt email with your company name and VAT number and we send the "
                 "VAT invoice the same day."),
    "formats": ("en", "File formats and languages", "Templates come as Notion templates and as PDF; spreadsheets "
                "come as Excel files that work with Google Sheets. The templates are in English; a template in "
                "another language is available for the Budget Planner only."),
    "updates": ("en", "Updates and accounts", "You get free updates of every template you bought: each new version "
                "is emailed to you. You do not need an account to download your files; the link in your email is "
                "enough."),
    "pdf_de": ("de", "PDF öffnet nicht", "Wenn das PDF nicht öffnet oder einen Fehler zeigt, laden Sie es erneut "
               "über Ihren Link herunter und öffnen Sie es mit Adobe Reader oder im Browser."),
    "notion_de": ("de", "Notion-Vorlagen duplizieren", "Öffnen Sie den Link in Notion und klicken Sie auf Duplizieren. "
                  "Wenn beim Duplizieren ein Fehler kommt oder die Vorlage nicht funktioniert, melden Sie sich neu an "
                  "und duplizieren Sie die Vorlage in einen Arbeitsbereich, in dem Sie Admin sind."),
    "licenses_de": ("de", "Lizenzen, Teams und Rabatt", "Jeder Kauf ist eine Lizenz für eine Person. Teams bekommen ab "
                    "5 Lizenzen 30% Rabatt, und ein Bundle mit drei Vorlagen kostet den Preis von zwei."),
    "invoices_de": ("de", "Rechnung und Mehrwertsteuer", "Jede Bestätigung enthält eine Rechnung als PDF. Für eine "
                    "Rechnung mit Mehrwertsteuer und Firmennamen antworten Sie auf die Bestätigung mit Ihrer "
                    "Umsatzsteuer-ID."),
    "formats_de": ("de", "Format der Vorlagen", "Die Vorlagen gibt es als Notion-Vorlage und als PDF; Tabellen im "
                   "Excel-Format, das mit Google Sheets funktioniert."),
    "pdf_es": ("es", "El PDF no abre", "Si no puede abrir el PDF o le sale un error, vuelva a descargarlo desde su "
               "enlace y ábralo con Adobe Reader o con el navegador."),
    "notion_es": ("es", "Duplicar plantillas en Notion", "Abra el enlace en Notion y pulse Duplicar. Si al duplicar "
                  "la plantilla aparece un error, vuelva a iniciar sesión y duplique en un espacio donde sea admin."),
    "licenses_es": ("es", "Licencias, equipos y descuento", "Cada compra es una licencia personal. Los equipos tienen "
                    "un descuento del 30% desde 5 licencias, y tres plantillas cuestan el precio de dos."),
    "invoices_es": ("es", "Factura con IVA", "Cada recibo incluye una factura en PDF. Para obtener una factura con IVA "
                    "y el nombre de su empresa, responda al recibo con su número de IVA."),
    "formats_es": ("es", "Formato de las plantillas", "Las plantillas están en formato Notion y PDF; las hojas de "
                   "cálculo en Excel, que funciona con Google Sheets."),
}


def labelled_rows(path: Path = ROWS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def heldout_rows() -> list[dict]:
    return labelled_rows(HELDOUT)


def intent_model_fit(company, rows: list[dict]):
    """Store a version of the company's intent model trained on `rows` (as if people had labelled them)."""
    texts, intents = [ticket_text(r["subject"], r["body"]) for r in rows], [r["intent"] for r in rows]
    pipeline = intent_pipeline(min(Counter(intents).values())).fit(texts, intents)
    return intent_model_store(company=company, pipeline=pipeline, trained_on=len(rows), metrics={})


def company_prepare(company) -> dict:
    """The knowledge base the labelled set expects; returns article key -> id."""
    return {key: article_save(company=company, title=title, body=body, language=lang).pk
            for key, (lang, title, body) in ARTICLES.items()}


def _email(row) -> str:
    return f"customer{row['id']}@example.com"


def _order_for(company, row) -> Order:
    customer = CustomerFactory(company=company, email=_email(row), name="Sam Taylor")
    paid = timezone.now() - timedelta(days=2)
    order = OrderFactory(company=company, customer=customer, status=Order.Status.FULFILLED, channel="stripe",
                         payment_intent_id=f"pi_{row['id']}", total=Decimal("19.00"), created_at=paid, paid_at=paid,
                         fulfilled_at=paid)
    product = ProductFactory(company=company, name="Budget Planner")
    OrderItemFactory(order=order, product=product)
    DownloadGrant.objects.create(company=company, order=order, product=product,
                                 expires_at=timezone.now() + timedelta(days=20))
    return order


def evaluate(company, rows: list[dict], articles: dict) -> dict:
    """Run the copilot on every row; score intent, auto-send precision and coverage."""
    results = []
    for row in rows:
        order = _order_for(company, row) if row["intent"] in ("order_status", "refund") else None
        ticket = ticket_receive(company=company, inbound=Inbound(email=_email(row), name="Sam Taylor",
                                                                 subject=row["subject"], body=row["body"])).ticket
        decision = ticket_process(ticket_id=ticket.pk)
        ticket = Ticket.objects.get(pk=ticket.pk)
        sent = ticket.messages.filter(author="bot").first()
        right = False
        if sent is not None and decision.intent == row["intent"]:
            if row["intent"] == "order_status":
                right = f"#{order.pk}" in sent.body
            elif row["intent"] == "refund":
                right = Refund.objects.filter(order=order, status=Refund.Status.SUCCEEDED).exists()
            elif row["article"]:
                top = [p for p in decision.passages if "article_id" in p]
                right = bool(top) and top[0]["article_id"] == articles[row["article"]]
        results.append({"row": row, "intent": decision.intent if decision else ticket.intent,
                        "confidence": decision.confidence if decision else 0.0, "sent": sent is not None,
                        "right": right, "language": decision.language if decision else ""})
    return summarise(results)


def summarise(results: list[dict]) -> dict:
    sent = [r for r in results if r["sent"]]
    by = {key: Counter() for key in ("intent", "language", "style")}
    for r in results:
        for key, counter in by.items():
            counter[(r["row"].get(key, ""), r["intent"] == r["row"]["intent"])] += 1
    return {
        "tickets": len(results),
        "intent_accuracy": round(sum(r["intent"] == r["row"]["intent"] for r in results) / len(results), 4),
        "language_accuracy": round(sum(r["language"] == r["row"]["language"] for r in results) / len(results), 4),
        "auto_sent": len(sent),
        "coverage": round(len(sent) / len(results), 4),
        "precision": round(sum(r["right"] for r in sent) / len(sent), 4) if sent else None,
        **{f"per_{key}_accuracy": _shares(counter) for key, counter in by.items() if key != "style"
           or any(k for k, _ in counter)},
        "wrong_sends": [(r["row"]["id"], r["row"]["intent"], r["intent"]) for r in sent if not r["right"]][:10],
        "results": results,
    }


def _shares(counter: Counter) -> dict:
    keys = sorted({k for k, _ in counter})
    return {k: round(counter[(k, True)] / (counter[(k, True)] + counter[(k, False)]), 3) for k in keys}
