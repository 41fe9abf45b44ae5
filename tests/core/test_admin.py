"""The admin is company-scoped for staff who are not superusers."""

import pytest

from autonomax.models import Role

from ..factories import CompanyFactory, MembershipFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    def login(role):
        membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=role, user__is_staff=True)
        client.force_login(membership.user)
        return membership
    return login


def test_owner_sees_only_own_company_orders(staff_client, client):
    membership = staff_client(Role.OWNER)
    own = OrderFactory(company=membership.company, external_id="own-order")
    OrderFactory(company=CompanyFactory(slug="beta"), external_id="foreign-order")

    response = client.get("/admin/commerce/order/")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [own]


def test_foreign_row_cannot_be_opened(staff_client, client):
    staff_client(Role.OWNER)
    foreign = OrderFactory(company=CompanyFactory(slug="beta"))

    response = client.get(f"/admin/commerce/order/{foreign.pk}/change/")

    assert response.status_code == 302  # admin redirects "does not exist" to the index
    assert response["Location"] == "/admin/"


def test_viewer_can_view_but_not_change(staff_client, client):
    membership = staff_client(Role.VIEWER)
    order = OrderFactory(company=membership.company)

    view = client.get(f"/admin/commerce/order/{order.pk}/change/")
    post = client.post(f"/admin/commerce/order/{order.pk}/change/", {"status": "cancelled"})

    assert view.status_code == 200
    assert b"Save" not in view.content
    assert post.status_code == 403
    order.refresh_from_db()
    assert order.status == "paid"


def test_company_picker_lists_only_own_companies(staff_client, client):
    membership = staff_client(Role.OPERATOR)
    CompanyFactory(slug="beta")

    response = client.get("/admin/commerce/product/add/")

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields["company"].queryset) == [membership.company]


def test_admin_login_page_opens_for_a_visitor_who_is_not_logged_in(client):
    # given: nobody logged in

    # when
    response = client.get("/admin/", follow=True)

    # then: the login form, not a server error from the company-scoped permission checks
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    assert b'name="username"' in response.content
