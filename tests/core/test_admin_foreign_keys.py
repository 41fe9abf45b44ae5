"""Staff who are not superusers cannot point a row at another company's rows through a foreign key."""

import pytest

from autonomax.models import Role
from commerce.models import Listing

from ..factories import CompanyFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_foreign_product_is_neither_offered_nor_accepted(client):
    # given an operator of alpha, one alpha product and one beta product
    membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OPERATOR, user__is_staff=True)
    client.force_login(membership.user)
    own = ProductFactory(company=membership.company)
    foreign = ProductFactory(company=CompanyFactory(slug="beta"))

    # when they open the listing form, then post it with beta's product id
    form = client.get("/admin/commerce/listing/add/").context["adminform"].form
    response = client.post("/admin/commerce/listing/add/", {
        "company": membership.company.pk, "product": foreign.pk, "channel": "shopify", "status": "pending"})

    # then only alpha's product is offered, the post is refused with a form error and nothing is written
    assert list(form.fields["product"].queryset) == [own]
    assert response.status_code == 200 and "product" in response.context["adminform"].form.errors
    assert not Listing.objects.exists()


def test_superuser_may_pick_any_company_row(admin_client):
    # given a product of some company
    product = ProductFactory()

    # when a superuser posts a listing for it
    response = admin_client.post("/admin/commerce/listing/add/", {
        "company": product.company.pk, "product": product.pk, "channel": "shopify", "status": "pending"})

    # then it is saved
    assert response.status_code == 302
    assert Listing.objects.get().product == product
