"""Staff who are not superusers cannot point a row at another company's rows through a foreign key."""

import pytest

from autonomax.models import Role
from commerce.models import ServiceTask

from ..factories import CompanyFactory, MembershipFactory, OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_foreign_product_is_neither_offered_nor_accepted_by_raw_id(client):
    # given an operator of alpha, an alpha order and product, and a beta product
    membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OPERATOR, user__is_staff=True)
    client.force_login(membership.user)
    order = OrderFactory(company=membership.company)
    own = ProductFactory(company=membership.company)
    foreign = ProductFactory(company=CompanyFactory(slug="beta"))

    # when they open the service task form, then post it with beta's product id typed in
    form = client.get("/admin/commerce/servicetask/add/").context["adminform"].form
    response = client.post("/admin/commerce/servicetask/add/", {
        "company": membership.company.pk, "order": order.pk, "product": foreign.pk, "status": "to_schedule"})

    # then only alpha's rows are valid choices, the post is refused with a form error and nothing is written
    assert list(form.fields["product"].queryset) == [own]
    assert response.status_code == 200 and list(response.context["adminform"].form.errors) == ["product"]
    assert not ServiceTask.objects.exists()


def test_superuser_may_pick_any_company_row(admin_client):
    # given an order and a product of some company
    order = OrderFactory()
    product = ProductFactory(company=order.company)

    # when a superuser posts a service task for them
    response = admin_client.post("/admin/commerce/servicetask/add/", {
        "company": order.company.pk, "order": order.pk, "product": product.pk, "status": "to_schedule"})

    # then it is saved
    assert response.status_code == 302
    assert ServiceTask.objects.get().product == product
