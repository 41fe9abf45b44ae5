"""The ticket API contract: POST /api/v1/tickets/, GET /api/v1/tickets/{id}/, POST …/reply/."""

from datetime import timedelta

import pytest
from django.core import mail

from autonomax.models import Role
from support.models import Ticket, TicketEvent, TicketMessage
from support.tickets import Inbound, ticket_bot_reply, ticket_receive

from ..factories import CompanyFactory, TicketFactory, member_with_token

pytestmark = pytest.mark.django_db

NEW = {"email": "Ada@Example.com", "name": "Ada", "subject": "Where is my download?", "body": "I paid but got no link."}


def test_post_opens_a_ticket_with_the_contract_fields(owner_api, company, django_capture_on_commit_callbacks):
    # given
    _, api = owner_api
    CompanyFactory(slug="other")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/tickets/", NEW, format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["customer_email"] == "ada@example.com"
    assert body["channel"] == "api"
    for key in ("intent", "intent_confidence", "answer_confidence", "language", "assignee", "sla", "messages"):
        assert key in body
    assert set(body["sla"]) >= {"first_response_due", "resolution_due", "breached"}
    assert body["sla"]["breached"] is False
    assert [(m["author"], m["body"]) for m in body["messages"]] == [("customer", "I paid but got no link.")]
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.company == company
    assert ticket.first_response_due - ticket.created_at == timedelta(seconds=120)
    assert ticket.resolution_due - ticket.created_at == timedelta(hours=24)


def test_get_shows_the_thread_and_is_a_fixed_number_of_queries(owner_api, company, django_assert_max_num_queries):
    # given
    _, api = owner_api
    ticket = TicketFactory(company=company)
    for author in ("customer", "bot", "person", "customer"):
        TicketMessage.objects.create(ticket=ticket, author=author, body=f"from {author}", created_at=ticket.created_at)

    # when
    with django_assert_max_num_queries(6):  # token, membership, ticket+assignee, messages+users
        response = api.get(f"/api/v1/tickets/{ticket.pk}/")

    # then
    assert response.status_code == 200
    assert [m["author"] for m in response.json()["messages"]] == ["customer", "bot", "person", "customer"]
    assert set(response.json()["messages"][0]) >= {"author", "body", "at"}


def test_another_companys_ticket_is_not_found(owner_api):
    # given
    _, api = owner_api
    theirs = TicketFactory(company=CompanyFactory(slug="other"))

    # when
    detail = api.get(f"/api/v1/tickets/{theirs.pk}/")
    reply = api.post(f"/api/v1/tickets/{theirs.pk}/reply/", {"body": "hi"}, format="json")

    # then
    assert detail.status_code == 404
    assert reply.status_code == 404
    assert detail.json()["error"]["code"] == "not_found"
    assert not TicketMessage.objects.filter(ticket=theirs).exists()


@pytest.mark.parametrize("payload, field", [
    ({**NEW, "email": "not-an-email"}, "email"),
    ({k: v for k, v in NEW.items() if k != "subject"}, "subject"),
    ({**NEW, "body": ""}, "body"),
    ({**NEW, "channel": "pigeon"}, "channel"),
])
def test_bad_input_is_400_with_details_and_nothing_stored(owner_api, payload, field):
    _, api = owner_api

    response = api.post("/api/v1/tickets/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not Ticket.objects.exists()


def test_malformed_json_is_400(owner_api):
    _, api = owner_api

    response = api.post("/api/v1/tickets/", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Ticket.objects.exists()


def test_viewer_cannot_open_or_reply(viewer_api, company):
    _, api = viewer_api
    ticket = TicketFactory(company=company)

    assert api.post("/api/v1/tickets/", NEW, format="json").status_code == 403
    assert api.post(f"/api/v1/tickets/{ticket.pk}/reply/", {"body": "x"}, format="json").status_code == 403
    assert Ticket.objects.count() == 1
    assert not TicketMessage.objects.exists()


def test_a_persons_reply_is_emailed_and_stops_the_bot(owner_api, company, django_capture_on_commit_callbacks):
    # given
    membership, api = owner_api
    company.support_email = "help@acme.test"
    company.save()
    created = api.post("/api/v1/tickets/", NEW, format="json").json()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/tickets/{created['id']}/reply/", {"body": "Here is your link."}, format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "waiting_on_customer"
    assert body["messages"][-1]["author"] == "person"
    assert body["assignee"]["id"] == membership.user.pk
    assert body["sla"]["paused"] is True
    ticket = Ticket.objects.get(pk=created["id"])
    assert ticket.handed_off_at is not None and ticket.first_response_at is not None
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada@example.com"] and ticket.reference in sent.subject
    assert sent.extra_headers["Message-ID"].startswith(f"<t{ticket.token}.")
    # the bot, arriving late, stays quiet
    assert ticket_bot_reply(ticket=ticket, body="Bot answer", confidence=0.99) is None
    assert list(ticket.messages.values_list("author", flat=True)) == ["customer", "person"]


def test_empty_reply_is_400_and_nothing_changes(owner_api, company):
    _, api = owner_api
    ticket = TicketFactory(company=company)

    response = api.post(f"/api/v1/tickets/{ticket.pk}/reply/", {"body": "   "}, format="json")

    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.handed_off_at is None and ticket.status == Ticket.Status.OPEN


def test_reply_quoting_the_reference_threads_into_the_ticket(company):
    # given
    first = ticket_receive(company=company, inbound=Inbound(email="ada@example.com", subject="Help", body="one"))
    ticket = first.ticket

    # when
    again = ticket_receive(company=company, inbound=Inbound(
        email="ADA@example.com", subject=f"Re: Help {ticket.reference}", body="two"))
    stranger = ticket_receive(company=company, inbound=Inbound(
        email="eve@example.com", subject=f"Re: Help {ticket.reference}", body="three"))

    # then
    assert again.created is False and again.ticket.pk == ticket.pk
    assert stranger.created is True and stranger.ticket.pk != ticket.pk
    assert ticket.messages.count() == 2


def test_the_same_message_id_is_stored_once(company):
    inbound = Inbound(email="ada@example.com", subject="Help", body="one", message_id="<m1@mail.test>")

    first = ticket_receive(company=company, inbound=inbound)
    second = ticket_receive(company=company, inbound=inbound)

    assert first.created and second.duplicate
    assert TicketMessage.objects.count() == 1


def test_reply_threads_by_in_reply_to_and_other_company_is_separate(company):
    # given
    other = CompanyFactory(slug="other")
    mine = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject="Hi", body="1",
                                                           message_id="<a1@x.test>")).ticket
    theirs = ticket_receive(company=other, inbound=Inbound(email="a@x.test", subject="Hi", body="1",
                                                           message_id="<b1@x.test>")).ticket

    # when
    reply = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject="Re: Hi", body="2",
                                                            in_reply_to="<a1@x.test>"))
    cross = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject="Re: Hi", body="2",
                                                            in_reply_to="<b1@x.test>"))

    # then
    assert reply.ticket.pk == mine.pk
    assert cross.ticket.pk not in (mine.pk, theirs.pk)  # another company's thread is never joined


def test_a_resolved_ticket_reopens_to_a_person_not_the_bot(company):
    # given
    ticket = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject="Hi", body="1")).ticket
    assert ticket_bot_reply(ticket=ticket, body="Answer", confidence=0.9) is not None
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED)

    # when
    again = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject=f"Re: {ticket.reference}",
                                                            body="still broken"))

    # then
    ticket.refresh_from_db()
    assert again.ticket.pk == ticket.pk
    assert ticket.status == Ticket.Status.ESCALATED and ticket.handed_off_at is not None
    assert ticket_bot_reply(ticket=ticket, body="Answer again", confidence=0.99) is None
    assert TicketEvent.objects.filter(ticket=ticket, kind="handoff", data__reason="reopened").exists()


def test_overlong_body_is_stored_truncated_and_flagged(company, settings):
    settings.SUPPORT_MAX_BODY_CHARS = 100

    received = ticket_receive(company=company, inbound=Inbound(email="a@x.test", subject="Hi", body="x" * 500))

    assert len(received.message.body) == 100
    assert "body_truncated" in received.message.flags and "body_truncated" in received.ticket.flags


def test_operator_can_assign_a_member_and_not_an_outsider(company):
    # given
    membership, key = member_with_token(company=company, role=Role.OPERATOR)
    outsider, _ = member_with_token(company=CompanyFactory(slug="other"), role=Role.OWNER)
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    ticket = TicketFactory(company=company)

    # when
    bad = api.post(f"/api/v1/tickets/{ticket.pk}/assign/", {"assignee": outsider.user.pk}, format="json")
    good = api.post(f"/api/v1/tickets/{ticket.pk}/assign/", {"assignee": membership.user.pk}, format="json")

    # then
    assert bad.status_code == 404
    assert good.status_code == 200 and good.json()["assignee"]["id"] == membership.user.pk
    ticket.refresh_from_db()
    assert ticket.handoff_reason == "assigned"


def test_posting_with_the_reference_in_the_subject_joins_the_ticket(owner_api):
    _, api = owner_api
    first = api.post("/api/v1/tickets/", NEW, format="json").json()

    again = api.post("/api/v1/tickets/", {**NEW, "subject": f"Re: {first['reference']}", "body": "Any news?"},
                     format="json")

    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert [m["body"] for m in again.json()["messages"]] == ["I paid but got no link.", "Any news?"]
