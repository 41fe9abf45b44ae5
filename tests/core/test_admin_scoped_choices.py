"""A non-superuser sees only their companies and their companies' members in the admin: filters and choices."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User

from autonomax.admin import CompanyScopedAdmin
from autonomax.models import Role
from commerce.models import ServiceTask

from ..factories import CompanyFactory, MembershipFactory, OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db

FOREIGN_COMPANY = "Zebra Foreign Holdings"
FOREIGN_USER = "zed_foreign_member"


@pytest.fixture
def two_companies(client):
    """An alpha owner (staff, signed in) and a beta company with its own member and rows."""
    owner = MembershipFactory(company=CompanyFactory(slug="alpha", name="Alpha Own Shop"), role=Role.OWNER,
                              user__is_staff=True, user__username="alpha_owner")
    colleague = MembershipFactory(company=owner.company, role=Role.OPERATOR, user__username="alpha_colleague")
    beta = CompanyFactory(slug="beta", name=FOREIGN_COMPANY)
    MembershipFactory(company=beta, role=Role.OWNER, user__username=FOREIGN_USER)
    OrderFactory(company=beta)
    OrderFactory(company=owner.company)
    client.force_login(owner.user)
    return owner, colleague


def _scoped_changelists():
    return sorted(f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
                  for model, model_admin in admin.site._registry.items() if isinstance(model_admin, CompanyScopedAdmin))


def test_no_changelist_names_a_foreign_company_or_member(client, two_companies):
    # when the owner opens every company-scoped list (filters included)
    pages = _scoped_changelists()
    leaks = {}
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        content = response.content.decode()
        found = [name for name in (FOREIGN_COMPANY, FOREIGN_USER) if name in content]
        if found:
            leaks[path] = found

    # then none names beta or its member
    assert len(pages) >= 25
    assert leaks == {}


def test_company_filter_lists_own_companies_for_a_member_and_all_for_a_superuser(client, two_companies):
    owner, _ = two_companies

    mine = client.get("/admin/commerce/order/").context["cl"]
    filters = {spec.field_path: spec for spec in mine.filter_specs}
    User.objects.filter(pk=owner.user.pk).update(is_superuser=True)
    everything = client.get("/admin/commerce/order/").context["cl"]

    # one company to choose from: Django leaves the filter out
    assert "company" not in filters or [n for _, n in filters["company"].lookup_choices] == ["Alpha Own Shop"]
    all_filters = {spec.field_path: spec for spec in everything.filter_specs}
    assert {name for _, name in all_filters["company"].lookup_choices} == {"Alpha Own Shop", FOREIGN_COMPANY}


def test_service_task_assignee_choices_are_the_companies_members(client, two_companies):
    owner, colleague = two_companies
    order = OrderFactory(company=owner.company)
    product = ProductFactory(company=owner.company)
    foreign_user = User.objects.get(username=FOREIGN_USER)

    form = client.get("/admin/commerce/servicetask/add/").context["adminform"].form
    response = client.post("/admin/commerce/servicetask/add/", {
        "company": owner.company.pk, "order": order.pk, "product": product.pk, "status": "to_schedule",
        "assignee": foreign_user.pk})

    assert set(form.fields["assignee"].queryset) == {owner.user, colleague.user}
    assert response.status_code == 200 and "assignee" in response.context["adminform"].form.errors
    assert not ServiceTask.objects.exists()
