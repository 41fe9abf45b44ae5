"""Onboarding a new company: base configs copied, then a silent cycle shows what the commander would do."""

from django.db import transaction
from django.utils.text import slugify

from autonomax.errors import ConflictError
from autonomax.models import Company

from .cycle import cycle_run_company
from .playbook import playbook_load


def company_onboard(*, name: str, slug: str = "") -> tuple[Company, dict]:
    from kpis.services import kpis_load_config  # noqa: PLC0415 - KPIs are the kpis app's to load

    slug = slug or slugify(name)[:64]
    if not slug:
        raise ConflictError("The company needs a name that gives a slug.", code="invalid")
    with transaction.atomic():
        if Company.objects.filter(slug=slug).exists():
            raise ConflictError(f"A company with slug '{slug}' already exists.", code="company_exists")
        company = Company.objects.create(name=name, slug=slug)
        kpis_load_config(company=company, reason="onboarding: base KPIs")
        playbook_load(companies=[company], actor_label="onboard_company", reason="onboarding: base playbook")
    return company, cycle_run_company(company=company, dry_run=True)
