"""Correctly signed but unacceptable bodies: 400 in the JSON error shape, the reason named, nothing stored."""

import json
import time

import pytest

from commerce.models import WebhookEvent

from .factories import post_shopify, shopify_sign, stripe_event, stripe_sign

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000

BAD_BODIES = {
    "not_an_object": "[1,2,3]",
    "non_finite_number": '{"id": "evt_nan", "type": "payment_intent.succeeded", "data": {"object": {"amount": NaN}}}',
    "nul_character": '{"id": "evt_nul", "type": "payment_intent.succeeded", "data": {"object": {"x": "a\\u0000b"}}}',
    "lone_surrogate": '{"id": "evt_sur", "type": "payment_intent.succeeded", "data": {"object": {"x": "\\ud800"}}}',
    "too_deep": '{"id": "evt_deep", "type": "payment_intent.succeeded", "data": ' + DEEP + "}",
    "syntax": '{"id": "evt_cut", "type": ',
}


def _post_signed_stripe(client, body: str, **sign):
    return client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=stripe_sign(body, **sign))


@pytest.mark.parametrize("reason", BAD_BODIES)
def test_stripe_signed_bad_body_is_a_400_naming_the_reason(client, company, reason):
    # given a correctly signed body that is not an acceptable event

    # when
    response = _post_signed_stripe(client, BAD_BODIES[reason])

    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["details"]["reason"] == reason
    assert error["message"].startswith("Body is not acceptable JSON: ")
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("reason", BAD_BODIES)
def test_shopify_signed_bad_body_is_a_400_naming_the_reason(client, company, reason):
    body = BAD_BODIES[reason].encode()

    response = post_shopify(client, body, topic="orders/paid", shop="acme.myshopify.com", event_id="e-1",
                            signature=shopify_sign(body))

    assert response.status_code == 400
    assert response.json()["error"]["details"]["reason"] == reason
    assert not WebhookEvent.objects.exists()


def test_a_bad_body_with_a_bad_signature_is_a_signature_error_not_parsed(client, company):
    response = client.post("/webhooks/stripe/", data="[1,2,3]", content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=stripe_sign("[1,2,3]", secret="whsec_wrong"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("offset, accepted", [(3600, False), (301 + 5, False), (240, True), (-240, True)])
def test_stripe_timestamp_must_be_within_tolerance_both_ways(client, company, offset, accepted):
    # given an event signed `offset` seconds from now (the tolerance is 300 s)
    body = json.dumps(stripe_event("payment_intent.succeeded", event_id=f"evt_t{offset}"))

    # when
    response = _post_signed_stripe(client, body, timestamp=int(time.time()) + offset)

    # then
    assert (response.status_code == 200) is accepted
    assert WebhookEvent.objects.exists() is accepted
    if not accepted:
        assert response.json()["error"]["code"] == "bad_signature"
        assert "future" in response.json()["error"]["message"]


def test_stripe_event_with_non_string_type_is_refused(client, company):
    body = json.dumps({"id": "evt_1", "type": ["a"]})

    response = _post_signed_stripe(client, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert not WebhookEvent.objects.exists()
