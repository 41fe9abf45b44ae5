"""Inbound email: the signed JSON webhook and Postmark's inbound format through django-anymail."""

import base64
import json

import pytest
from django.core.files.storage import default_storage

from support.inbound import email_signature
from support.models import Ticket, TicketMessage

from ..factories import CompanyFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"
URL = "/webhooks/email/"


@pytest.fixture
def secret(settings):
    settings.SUPPORT_EMAIL_WEBHOOK_SECRET = SECRET
    return SECRET


@pytest.fixture
def acme(company):
    company.support_email = "help@acme.test"
    company.save()
    CompanyFactory(slug="globex", name="Globex", support_email="help@globex.test")
    return company


def _post(client, payload, *, secret=SECRET, signature=None):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = signature if signature is not None else email_signature(raw_body=raw, secret=secret)
    return client.post(URL, raw, content_type="application/json", HTTP_X_AUTONOMAX_SIGNATURE=sig)


def _email(**overrides):
    return {"message_id": "<m1@mail.test>", "from": {"email": "ada@example.com", "name": "Ada"},
            "to": ["help@acme.test"], "subject": "Where is my download?", "text": "I paid yesterday.",
            **overrides}


def test_a_signed_email_opens_a_ticket_for_the_company_it_was_sent_to(client, secret, acme):
    response = _post(client, _email())

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["ticket"])
    assert ticket.company == acme and ticket.channel == "email"
    assert ticket.customer_email == "ada@example.com" and ticket.customer_name == "Ada"
    assert ticket.messages.get().message_id == "<m1@mail.test>"


def test_bad_signature_is_400_and_nothing_is_stored(client, secret, acme):
    for signature in ("", "sha256=deadbeef", email_signature(raw_body=b"other", secret=SECRET)):
        response = _post(client, _email(), signature=signature)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_signature"
    assert not Ticket.objects.exists() and not TicketMessage.objects.exists()


def test_unconfigured_webhook_is_503(client, settings, acme):
    settings.SUPPORT_EMAIL_WEBHOOK_SECRET = ""

    response = _post(client, _email(), secret="anything")

    assert response.status_code == 503
    assert not Ticket.objects.exists()


@pytest.mark.parametrize("payload, code", [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    (json.dumps(_email(**{"from": "nobody"})).encode(), "invalid"),
    (json.dumps(_email(subject=["list"])).encode(), "invalid"),
    (json.dumps(_email(attachments=[{"filename": "a", "content_base64": "***"}])).encode(), "invalid"),
])
def test_malformed_messages_are_400_and_nothing_is_stored(client, secret, acme, payload, code):
    response = _post(client, payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not Ticket.objects.exists()


def test_unknown_recipient_is_404_and_nothing_is_stored(client, secret, acme):
    response = _post(client, _email(to=["someone@elsewhere.test"]))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_company"
    assert not Ticket.objects.exists()


def test_oversize_body_is_413(client, secret, acme, settings):
    settings.SUPPORT_EMAIL_MAX_BYTES = 200

    response = _post(client, _email(text="x" * 500))

    assert response.status_code == 413
    assert not Ticket.objects.exists()


def test_plus_address_and_explicit_slug_route_to_the_other_company(client, secret, acme):
    by_plus = _post(client, _email(to=["inbox+globex@mail.test"], message_id="<p1@x>"))
    by_slug = _post(client, _email(to=[], company="globex", message_id="<p2@x>"))

    assert {Ticket.objects.get(pk=r.json()["ticket"]).company.slug for r in (by_plus, by_slug)} == {"globex"}


def test_a_retried_delivery_is_stored_once(client, secret, acme):
    first = _post(client, _email())
    again = _post(client, _email())

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert TicketMessage.objects.count() == 1


def test_a_reply_threads_by_in_reply_to(client, secret, acme):
    first = _post(client, _email()).json()

    reply = _post(client, _email(message_id="<m2@mail.test>", subject="Re: Where is my download?",
                                 in_reply_to="<m1@mail.test>", references=["<m1@mail.test>"], text="Any news?"))

    assert reply.status_code == 201 and reply.json()["created"] is False
    assert reply.json()["ticket"] == first["ticket"]
    assert Ticket.objects.count() == 1 and TicketMessage.objects.count() == 2


def test_attachments_within_limits_are_stored_over_limits_flagged(client, secret, acme, settings):
    settings.SUPPORT_MAX_ATTACHMENT_BYTES = 10
    small, big = base64.b64encode(b"tiny").decode(), base64.b64encode(b"x" * 50).decode()

    response = _post(client, _email(attachments=[
        {"filename": "note.txt", "content_type": "text/plain", "content_base64": small},
        {"filename": "huge.bin", "content_type": "application/octet-stream", "content_base64": big}]))

    assert response.status_code == 201
    message = TicketMessage.objects.get()
    stored, flagged = message.attachments
    assert stored["stored"] is True and default_storage.open(stored["path"]).read() == b"tiny"
    assert flagged == {"filename": "huge.bin", "content_type": "application/octet-stream", "size": 50,
                       "stored": False, "flag": "attachment_over_limit"}
    assert "attachment_over_limit" in message.flags and "attachment_over_limit" in message.ticket.flags


def test_html_only_email_is_stored_as_text(client, secret, acme):
    response = _post(client, _email(text="", html="<p>Hello</p><p>My <b>file</b> is missing</p>"))

    assert response.status_code == 201
    assert TicketMessage.objects.get().body == "Hello\nMy file is missing"


# --- Postmark inbound through django-anymail ----------------------------------------------------------

POSTMARK_URL = "/webhooks/email/postmark/inbound/"


def _postmark(**overrides):
    return {
        "FromFull": {"Email": "bob@example.com", "Name": "Bob"},
        "ToFull": [{"Email": "help@globex.test", "Name": ""}],
        "Subject": "Refund please", "TextBody": "I bought the wrong template.",
        "MessageID": "pm-uuid-1",
        "Headers": [{"Name": "Message-ID", "Value": "<pm1@mail.test>"}],
        "Attachments": [{"Name": "receipt.txt", "ContentType": "text/plain",
                         "Content": base64.b64encode(b"receipt").decode(), "ContentLength": 7}],
        **overrides,
    }


def _basic(user_pass: str) -> str:
    return "Basic " + base64.b64encode(user_pass.encode()).decode()


def test_postmark_inbound_opens_a_ticket(client, acme, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}

    response = client.post(POSTMARK_URL, json.dumps(_postmark()), content_type="application/json",
                           HTTP_AUTHORIZATION=_basic("user:pass"))

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert ticket.company.slug == "globex" and ticket.customer_email == "bob@example.com"
    message = ticket.messages.get()
    assert message.message_id == "<pm1@mail.test>" and message.attachments[0]["filename"] == "receipt.txt"


def test_postmark_with_wrong_basic_auth_is_400_and_nothing_stored(client, acme, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}

    response = client.post(POSTMARK_URL, json.dumps(_postmark()), content_type="application/json",
                           HTTP_AUTHORIZATION=_basic("user:wrong"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert not Ticket.objects.exists()


def test_postmark_is_closed_until_configured(client, acme, settings):
    settings.ANYMAIL = {}

    response = client.post(POSTMARK_URL, json.dumps(_postmark()), content_type="application/json")

    assert response.status_code == 503
    assert not Ticket.objects.exists()
