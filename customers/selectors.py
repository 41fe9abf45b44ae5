"""Reads for the customer page: one person's whole story, from what every app exports about them."""

from datetime import datetime

from django.utils.dateparse import parse_datetime

from autonomax.privacy import Person, export_person
from commerce.models import Customer

from .models import CustomerProfile, LifetimeModel


def customer_for_company(*, company, pk: int) -> Customer | None:
    return Customer.objects.filter(company=company, pk=pk).select_related("profile", "profile__model").first()


def _entries(apps: dict):
    """(at, kind, text) for each dated thing the apps hold, read from their export sections."""
    commerce = apps.get("commerce", {}).get("data", {})
    for order in commerce.get("orders", []):
        items = ", ".join(i["title"] for i in order["items"]) or "no items"
        yield order["created_at"], "order", f"Order #{order['id']} {order['status']}: {items} — {order['total']} " \
            f"{order['currency']}", order["id"]
        if order["paid_at"]:
            yield order["paid_at"], "payment", f"Paid order #{order['id']} ({order['total']} {order['currency']})", \
                order["id"]
    for refund in commerce.get("refunds", []):
        yield refund["created_at"], "refund", f"Refund {refund['amount']} {refund['currency']} ({refund['status']})" \
            + (f": {refund['reason']}" if refund["reason"] else ""), refund["order_id"]
    for grant in commerce.get("deliveries", []):
        if grant["emailed_at"]:
            yield grant["emailed_at"], "delivery", f"Download of {grant['product__name']} sent " \
                f"({grant['download_count']} downloads)", grant["order_id"]
    growth = apps.get("growth", {}).get("data", {})
    for lead in growth.get("leads", []):
        yield lead["created_at"], "lead", f"Became a lead from {lead['source'] or 'unknown source'} " \
            f"(score {lead['score']}, {lead['status']})", None
        if lead["converted_at"]:
            yield lead["converted_at"], "lead", "Lead converted to a customer", None
    for email in growth.get("email_deliveries", []):
        yield email["sent_at"], "email", f"Email “{email['subject']}” {_email_fate(email)}", None
    for at in growth.get("unsubscribed", []):
        yield at, "email", "Unsubscribed from marketing email", None
    for ticket in apps.get("support", {}).get("data", {}).get("tickets", []):
        yield ticket["created_at"], "ticket", f"Ticket “{ticket['subject']}” ({ticket['status']}, " \
            f"{len(ticket['messages'])} messages)", None
    for move in apps.get("customers", {}).get("data", {}).get("segment_history", []):
        yield move["moved_at"], "segment", f"Segment {move['from_segment'] or '—'} → {move['to_segment']}", None


def _email_fate(email: dict) -> str:
    """"sent 2026-11-02 10:00, opened 2026-11-02 18:30" (or not opened yet, or opens not tracked)."""
    if email["status"] != "sent" or not email["sent_at"]:
        return email["status"]
    text = f"sent {_when(email['sent_at']):%Y-%m-%d %H:%M}"
    if email.get("opened_at"):
        return f"{text}, opened {_when(email['opened_at']):%Y-%m-%d %H:%M}"
    return f"{text}, {'not opened yet' if email.get('opens_tracked') else 'opens not tracked'}"


def _when(value):
    """Apps export times as datetimes or ISO text."""
    return parse_datetime(value) if isinstance(value, str) else value


def customer_story(*, customer: Customer) -> dict:
    document = export_person(customer.company, Person(email=customer.email.lower(), name=customer.name))
    timeline = sorted(
        ({"at": _when(at), "kind": kind, "text": text, "order_id": order_id}
         for at, kind, text, order_id in _entries(document["apps"]) if isinstance(_when(at), datetime)),
        key=lambda e: e["at"], reverse=True)
    try:
        profile = customer.profile
    except CustomerProfile.DoesNotExist:
        profile = None
    tickets = [{**t, "messages": [{**m, "at": _when(m["at"])} for m in t["messages"]]}
               for t in document["apps"].get("support", {}).get("data", {}).get("tickets", [])]
    return {"customer": customer, "profile": profile, "timeline": timeline, "tickets": tickets,
            "model": LifetimeModel.objects.filter(company=customer.company).first()}
