"""A person's data on request: everything held, from every app (export); erased everywhere (erasure);
and raw data kept no longer than the company's retention period."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company
from autonomax.privacy import Person, erase_person, export_person, purge_older_than
from commerce.models import Customer

from ..models import CustomerSettings, ErasureRecord


def customer_export(*, customer: Customer) -> dict:
    document = export_person(customer.company, Person(email=customer.email.lower(), name=customer.name))
    document["exported_at"] = timezone.now()
    return document


def customer_erase(*, customer: Customer, actor, reason: str) -> ErasureRecord:
    """Erase the customer's personal data from every app, in one transaction, and record it (no PII)."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError("Say why this customer is erased (e.g. 'erasure request by email 2026-12-01').",
                       code="reason_required", status=400)
    if customer.email.endswith("@erased.invalid"):
        raise AppError(f"Customer {customer.pk} was already erased.", code="already_erased", status=409)
    person = Person(email=customer.email.lower(), name=customer.name)
    with transaction.atomic():
        changed = erase_person(customer.company, person)
        return ErasureRecord.objects.create(company=customer.company, customer_ref=customer.pk, erased_by=actor,
                                            reason=reason[:300], changed=changed, erased_at=timezone.now())


def retention_days(company: Company) -> int:
    own = CustomerSettings.objects.filter(company=company).values_list("retention_days", flat=True).first()
    return own or settings.PERSONAL_DATA_RETENTION_DAYS


def retention_purge(*, company: Company, now=None) -> dict:
    """Purge raw personal data older than the company's retention period; {model label: rows}."""
    now = now or timezone.now()
    return purge_older_than(company, now - timedelta(days=retention_days(company)))
