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


def test_operator_cannot_make_itself_owner_in_the_admin(staff_client, client):
    # given an operator (staff) in a company
    membership = staff_client(Role.OPERATOR)

    # when it edits its own membership to owner, or adds a new owner membership
    change = client.post(f"/admin/autonomax/membership/{membership.pk}/change/",
                         {"user": membership.user.pk, "company": membership.company.pk, "role": Role.OWNER})
    add = client.get("/admin/autonomax/membership/add/")

    # then both are refused and the role is unchanged
    assert change.status_code == 403 and add.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.OPERATOR


def test_an_api_token_cannot_be_moved_to_another_user_in_the_admin(client):
    # given an owner (staff) and the operator's token
    from autonomax.models import APIToken

    from ..factories import member_with_token

    owner = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OWNER, user__is_staff=True)
    operator, _ = member_with_token(company=owner.company, role=Role.OPERATOR)
    token = APIToken.objects.get(user=operator.user)
    client.force_login(owner.user)

    # when the owner posts the token with the owner as its user
    client.post(f"/admin/autonomax/apitoken/{token.pk}/change/",
                {"user": owner.user.pk, "company": owner.company.pk, "name": "renamed", "revoked_at_0": "",
                 "revoked_at_1": ""})

    # then the holder is unchanged (the key would otherwise act with the owner's role)
    token.refresh_from_db()
    assert token.user == operator.user and token.name == "renamed"


@pytest.mark.parametrize("path", [
    "/admin/kpis/metricsnapshot/", "/admin/commander/evidencerecord/", "/admin/chimera_ai/aicall/",
    "/admin/autonomax/configchange/",
])
def test_evidence_and_measurements_cannot_be_added_or_edited_by_an_owner(staff_client, client, path):
    staff_client(Role.OWNER)

    listing = client.get(path)
    add = client.get(f"{path}add/")

    assert listing.status_code == 200
    assert add.status_code == 403


@pytest.mark.parametrize("logout_url", ["/accounts/logout/", "/admin/logout/"])
def test_logging_out_shows_the_branded_page(staff_client, client, logout_url):
    # given
    staff_client(Role.OWNER)
    # when
    response = client.post(logout_url)
    # then: the app's page with a way back in, and the session is gone
    html = response.content.decode()
    assert response.status_code == 200 and "You are logged out" in html and 'href="/accounts/login/"' in html
    assert "css/app.css" in html
    assert client.get("/").status_code == 302
