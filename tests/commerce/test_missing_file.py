"""A buyer whose product has no file: the owners are told (once), and the buyer is told only what happened."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from autonomax.models import Role
from commerce.models import DownloadGrant, Order
from commerce.services.fulfillment import download_token_make
from tests.factories import CustomerFactory, MembershipFactory, OrderFactory, OrderItemFactory

from .factories import digital_product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _grant_without_file():
    product = digital_product()
    product.asset = ""
    product.save(update_fields=["asset"])
    buyer = CustomerFactory(company=product.company, email="buyer@example.com")
    order = OrderFactory(company=product.company, customer=buyer, status=Order.Status.FULFILLED)
    OrderItemFactory(order=order, product=product)
    return DownloadGrant.objects.create(company=order.company, order=order, product=product,
                                        expires_at=timezone.now() + timedelta(hours=24))


def test_a_missing_file_tells_the_owners_once_with_the_order(client, mailoutbox):
    # given a shop with an owner, and a paid order whose product has no file
    grant = _grant_without_file()
    MembershipFactory(company=grant.company, role=Role.OWNER, user__email="owner@example.com")
    url = f"/d/{download_token_make(grant=grant)}/"

    # when the buyer clicks twice
    first, second = client.get(url), client.get(url)

    # then one alert to the owners naming the order and the buyer; the buyer is told that the owners know
    assert first.status_code == second.status_code == 404
    assert "The shop owners have been told" in first.content.decode()
    [alert] = mailoutbox
    assert alert.to == ["owner@example.com"] and "file is missing" in alert.subject
    assert f"Order {grant.order.pk}" in alert.body and "buyer@example.com" in alert.body
    grant.refresh_from_db()
    assert grant.download_count == 0  # nothing was delivered, nothing counted


def test_with_nobody_to_tell_the_buyer_is_not_told_that_someone_was(client, mailoutbox):
    # given no owner email and no support address
    grant = _grant_without_file()
    grant.company.support_email = ""
    grant.company.save(update_fields=["support_email"])

    # when
    page = client.get(f"/d/{download_token_make(grant=grant)}/").content.decode()

    # then
    assert not mailoutbox
    assert "have been told" not in page and "support has been told" not in page
    assert f"order number {grant.order.pk}" in page
