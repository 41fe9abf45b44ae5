import json

import pytest

from chimera.ai.errors import RedactionError
from chimera.ai.models import AICall
from chimera.ai.safety import pii_find, pii_redact, profanity_mask
from chimera.ai.services import ai_generate

from .openai_server import ok

ALL = {"email", "phone", "card", "iban"}


def test_redacts_each_kind_and_restores_it():
    # given
    text = ("Mail jane.doe+shop@example.co.uk or call +44 20 7946 0958, card 4242 4242 4242 4242, "
            "IBAN DE89 3704 0044 0532 0130 00.")

    # when
    redaction = pii_redact(text, kinds=ALL)

    # then
    assert redaction.text == "Mail [EMAIL_1] or call [PHONE_1], card [CARD_1], IBAN [IBAN_1]."
    assert redaction.count == 4
    assert redaction.restore("Reply to [EMAIL_1] about [CARD_1]") == (
        "Reply to jane.doe+shop@example.co.uk about 4242 4242 4242 4242")


def test_numbers_that_are_not_pii_stay():
    # given: a failed Luhn check, a price, a year, an order number, an invalid IBAN checksum
    # (spaced digit groups of phone length are redacted as phones: over-redaction is the safe side)
    text = ("Order 12345 on 2026-11-21 (21.11.2026) cost $19.99, revenue 12.500.000; ref 4242 4242 4242 4241; "
            "GB00WEST12345698765432")

    # when
    redaction = pii_redact(text, kinds=ALL)

    # then
    assert redaction.text == text and redaction.count == 0


def test_only_configured_kinds_are_redacted():
    redaction = pii_redact("a@b.io +1 415 555 0100", kinds={"email"})

    assert redaction.text == "[EMAIL_1] +1 415 555 0100"


def test_redaction_fails_closed_on_bad_input():
    with pytest.raises(RedactionError):
        pii_redact(b"jane@example.com", kinds=ALL)


def test_profanity_is_masked_as_whole_words_only():
    text, count = profanity_mask("This is shit, not a shitake or Scunthorpe; damn.", extra_words={"shitake"})

    assert text == "This is s***, not a s****** or Scunthorpe; d***."
    assert count == 3


@pytest.mark.django_db
def test_prompt_leaves_redacted_and_answer_comes_back_restored(company, openai_server, models_file):
    # given: the server echoes what it received, placeholders included
    server = openai_server(default=ok(lambda body: f"I will write to {body['messages'][-1]['content'][-9:]}"))
    models_file(providers={"alpha": server.url})
    prompt = "Draft a reply to the customer at jane.doe@example.com"

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt=prompt)

    # then
    sent = json.dumps(server.requests[0])
    assert "jane.doe@example.com" not in sent and "[EMAIL_1]" in sent
    assert result.content == "I will write to jane.doe@example.com"
    call = AICall.objects.get()
    assert call.redaction_count == 1
    stored = " ".join(str(v) for v in AICall.objects.values().get().values())
    assert "jane.doe@example.com" not in stored


@pytest.mark.django_db
def test_profanity_filter_applies_to_provider_answers(company, openai_server, models_file):
    # given
    server = openai_server(default=ok("That launch was a damn success."))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="How did the launch go?")

    # then
    assert result.content == "That launch was a d*** success."


@pytest.mark.django_db
def test_safe_modes_off_sends_the_prompt_as_is(company, openai_server, models_file):
    # given
    server = openai_server(default=ok("damn"))
    models_file(providers={"alpha": server.url}, safe_modes=())

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="mail a@b.io")

    # then
    assert server.requests[0]["messages"][-1]["content"] == "mail a@b.io"
    assert result.content == "damn"


def test_pii_find_reports_kinds():
    assert pii_find("x a@b.io y", kinds=ALL) == [("email", "a@b.io")]
