"""Export and erasure reach every app; erasure leaves no trace; the other company is never touched."""

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from autonomax.models import Event, Role
from autonomax.privacy import covered_models, holders, models_holding_email
from autonomax.services import event_record
from commerce.models import Customer, Order, WebhookEvent
from customers.models import ErasureRecord
from customers.services.privacy import customer_erase, customer_export, retention_purge
from customers.services.segments import profiles_refresh
from growth.models import EmailDelivery, Unsubscribe
from growth.services import email_segment_recipients
from support.models import TicketMessage
from tests.factories import (
    CompanyFactory,
    CustomerFactory,
    LeadFactory,
    OrderFactory,
    OrderItemFactory,
    TicketFactory,
    member_with_token,
)

EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"


def _person_everywhere(company, *, email=EMAIL, name=NAME):
    """The same person in every app of one company."""
    customer = CustomerFactory(company=company, email=email, name=name)
    order = OrderFactory(company=company, customer=customer, created_at=timezone.now() - timedelta(days=40))
    OrderItemFactory(order=order)
    LeadFactory(company=company, email=email, name=name, converted_at=timezone.now())
    EmailDelivery.objects.create(company=company, send_key=f"winback-{company.slug}", email=email,
                                 subject=f"{name}, we miss you", status=EmailDelivery.Status.SENT,
                                 sent_at=timezone.now())
    ticket = TicketFactory(company=company, customer_email=email, subject=f"Download for {name}")
    TicketMessage.objects.create(ticket=ticket, author=TicketMessage.Author.CUSTOMER, created_at=timezone.now(),
                                 body=f"Hi, I am {name} ({email}) and my link expired.")
    WebhookEvent.objects.create(provider="stripe", event_id=f"evt_{company.slug}",
                                event_type="checkout.session.completed", company=company,
                                status=WebhookEvent.Status.PROCESSED,
                                payload={"data": {"object": {"customer_details": {"email": email, "name": name}}}},
                                raw_body=json.dumps({"customer_details": {"email": email, "name": name}}))
    event_record(company=company, name="order.paid", payload={"order_id": order.pk, "email": email})
    profiles_refresh(company=company)
    return customer


def _text_fields(model):
    return [f for f in model._meta.get_fields()
            if isinstance(f, (models.CharField, models.TextField, models.JSONField)) and f.concrete]


def _hits(needle: str, *, company=None) -> list[str]:
    """'app.Model.field' of every row of every table whose text or JSON mentions `needle`."""
    found = []
    for model in apps.get_models():
        queryset = model._default_manager.all()
        if company is not None:
            if not any(f.name == "company" for f in model._meta.get_fields()):
                continue
            queryset = queryset.filter(company=company)
        for field in _text_fields(model):
            annotated = queryset.annotate(_as_text=Cast(field.name, TextField()))
            if annotated.filter(_as_text__icontains=needle).exists():
                found.append(f"{model._meta.label}.{field.name}")
    return found


def test_every_model_holding_an_email_is_registered():
    assert models_holding_email(), "the check must find the models with e-mail fields"
    assert set(models_holding_email()) <= covered_models()
    assert [e for e in checks.run_checks() if e.id == "autonomax.E101"] == []


def test_an_app_that_forgets_its_model_fails_the_check(monkeypatch):
    from autonomax import privacy

    kept = {label: h for label, h in privacy._holders.items() if label != "support"}
    monkeypatch.setattr(privacy, "_holders", kept)
    errors = [e for e in checks.run_checks() if e.id == "autonomax.E101"]
    assert [e.msg.split()[0] for e in errors] == ["support.Ticket"]


@pytest.mark.django_db
def test_export_holds_every_registered_apps_data_and_nothing_of_the_other_company():
    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    customer = _person_everywhere(company)
    _person_everywhere(other)  # same address at another shop
    document = customer_export(customer=customer)

    assert set(document["apps"]) == {h.app_label for h in holders()}
    data = {app: section["data"] for app, section in document["apps"].items()}
    assert data["commerce"]["customer"][0]["email"] == EMAIL
    assert [o["id"] for o in data["commerce"]["orders"]] == list(Order.objects.filter(company=company)
                                                                 .values_list("id", flat=True))
    assert data["commerce"]["webhook_events"][0]["event_id"] == "evt_acme"
    assert data["growth"]["leads"][0]["email"] == EMAIL and data["growth"]["email_deliveries"]
    assert data["support"]["tickets"][0]["messages"][0]["body"].startswith("Hi, I am Ada")
    assert data["customers"]["profile"][0]["orders"] == 1
    assert data["autonomax"]["events"][0]["name"] == "order.paid"
    assert "hash" in document["apps"]["chimera.ai"]["note"]
    json.dumps(document, default=str)  # one JSON document


@pytest.mark.django_db
def test_erase_leaves_no_trace_keeps_the_amounts_and_spares_the_other_company():
    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    customer = _person_everywhere(company)
    _person_everywhere(other)
    owner, _ = member_with_token(company=company, role=Role.OWNER)
    totals = list(Order.objects.filter(company=company).values_list("total", flat=True))

    record = customer_erase(customer=customer, actor=owner.user, reason="erasure request by email")

    assert _hits(EMAIL, company=company) == []
    assert _hits(NAME, company=company) == []
    assert not TicketMessage.objects.filter(ticket__company=company, body__icontains=NAME).exists()
    # The other shop's copy of the same person is untouched, in every app.
    assert {"commerce.Customer.email", "growth.Lead.email", "support.Ticket.customer_email",
            "commerce.WebhookEvent.raw_body", "autonomax.Event.payload"} <= set(_hits(EMAIL, company=other))
    assert list(Order.objects.filter(company=company).values_list("total", flat=True)) == totals
    assert record.customer_ref == customer.pk and record.erased_by == owner.user
    assert EMAIL not in json.dumps(record.changed) and record.changed["commerce.Customer"] == 1


@pytest.mark.django_db
def test_an_erased_person_gets_no_marketing_even_when_they_come_back():
    company = CompanyFactory(slug="acme")
    owner, _ = member_with_token(company=company, role=Role.OWNER)
    customer = _person_everywhere(company)
    customer_erase(customer=customer, actor=owner.user, reason="request")
    assert not Unsubscribe.objects.filter(email__icontains="ada").exists()
    # They buy again later: a new customer row, but marketing stays off.
    back = CustomerFactory(company=company, email=EMAIL)
    OrderFactory(company=company, customer=back, created_at=timezone.now() - timedelta(days=60))
    recipients = email_segment_recipients(company=company, segment="lapsed_customers")
    assert EMAIL not in [r["email"] for r in recipients]


@pytest.mark.django_db
def test_erase_through_the_api_is_for_owners_with_a_reason():
    company = CompanyFactory(slug="acme")
    customer = _person_everywhere(company)
    other_customer = _person_everywhere(CompanyFactory(slug="globex"))
    from tests.conftest import _api_client

    _, operator_key = member_with_token(company=company, role=Role.OPERATOR)
    _, owner_key = member_with_token(company=company, role=Role.OWNER)
    operator, owner = _api_client(operator_key), _api_client(owner_key)
    url = f"/api/v1/customers/{customer.pk}/erase/"

    assert operator.post(url, {"reason": "asked"}, format="json").status_code == 403
    response = owner.post(url, {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["details"]
    assert Customer.objects.get(pk=customer.pk).email == EMAIL  # nothing half-done
    assert owner.post(f"/api/v1/customers/{other_customer.pk}/erase/", {"reason": "x"},
                      format="json").status_code == 404
    response = owner.post(url, {"reason": "erasure request 2026-12-01"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["changed"]["commerce.Customer"] == 1
    assert ErasureRecord.objects.filter(company=company).count() == 1
    assert owner.post(url, {"reason": "again"}, format="json").status_code == 409

    export = owner.post(f"/api/v1/customers/{other_customer.pk}/export/")
    assert export.status_code == 404


@pytest.mark.django_db
def test_export_command_writes_one_json(tmp_path):
    company = CompanyFactory(slug="acme")
    _person_everywhere(company)
    out = tmp_path / "ada.json"
    call_command("customer_data", "export", "--company", "acme", "--email", EMAIL.upper(), "--out", str(out))
    document = json.loads(out.read_text())
    assert document["apps"]["commerce"]["data"]["customer"][0]["email"] == EMAIL


@pytest.mark.django_db
def test_retention_purges_old_raw_bodies_of_that_company_only(settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 30
    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    for c in (company, other):
        _person_everywhere(c)
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(days=31))
    fresh = WebhookEvent.objects.create(provider="stripe", event_id="evt_fresh", event_type="x", company=company,
                                        status=WebhookEvent.Status.PROCESSED, payload={"a": 1}, raw_body="{}")
    waiting = WebhookEvent.objects.create(provider="stripe", event_id="evt_wait", event_type="x", company=company,
                                          status=WebhookEvent.Status.PENDING_MATCH, payload={"a": 1}, raw_body="{}")
    WebhookEvent.objects.filter(pk=waiting.pk).update(received_at=timezone.now() - timedelta(days=60))

    assert retention_purge(company=company) == {"commerce.WebhookEvent": 1}
    purged = WebhookEvent.objects.get(event_id="evt_acme")
    assert purged.raw_body == "" and purged.payload == {} and purged.status == WebhookEvent.Status.PROCESSED
    assert WebhookEvent.objects.get(pk=fresh.pk).raw_body == "{}"
    assert WebhookEvent.objects.get(pk=waiting.pk).payload == {"a": 1}  # still needed to match its order
    assert EMAIL in WebhookEvent.objects.get(event_id="evt_globex").raw_body
    assert Event.objects.filter(company=other).exists()
