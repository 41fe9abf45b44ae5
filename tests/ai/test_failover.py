import pytest

from chimera.ai.errors import AllProvidersFailed, ProviderRejectedRequest
from chimera.ai.models import AICall
from chimera.ai.services import ai_generate

from .openai_server import error, ok, raw, refused_url, slow

pytestmark = pytest.mark.django_db


def test_hosted_provider_answers_with_reported_usage_and_cost(company, openai_server, models_file):
    # given
    server = openai_server(default=ok("Three tips for freelancers.", prompt_tokens=120, completion_tokens=30))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="content_generation", prompt="Tips for freelancers",
                         correlation_id="mission-42")

    # then
    assert (result.provider, result.model, result.content) == ("alpha", "test-model", "Three tips for freelancers.")
    assert (result.tokens_in, result.tokens_out, result.fallback) == (120, 30, False)
    assert str(result.cost_usd) == "0.001800"  # 120/1000*0.01 + 30/1000*0.02
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["max_tokens"] == 100
    assert sent["messages"][-1] == {"role": "user", "content": "Tips for freelancers"}
    call = AICall.objects.get()
    assert (call.status, call.provider, call.correlation_id, call.cost_usd) == (
        "succeeded", "alpha", "mission-42", result.cost_usd)
    assert len(call.prompt_hash) == 64 and call.error == ""


@pytest.mark.parametrize("failure, reason_part", [
    (error(500), "HTTP 500"),
    (error(429), "HTTP 429 rate_limit_exceeded"),
    (slow(1.5), "timed out"),
])
def test_fails_over_to_the_next_provider(company, openai_server, models_file, failure, reason_part):
    # given
    first = openai_server(default=failure)
    second = openai_server(default=ok("from beta"))
    models_file(providers={"alpha": first.url, "beta": second.url}, timeout_s=0.5)

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="Hello?")

    # then
    assert (result.provider, result.content, result.fallback) == ("beta", "from beta", True)
    assert len(first.requests) == 1, "the engine must not retry the failed provider itself"
    call = AICall.objects.get()
    assert call.status == "succeeded" and call.fallback is True
    assert call.error.startswith("alpha: ") and reason_part in call.error


def test_fails_over_when_the_connection_is_refused(company, openai_server, models_file):
    # given
    second = openai_server(default=ok("from beta"))
    models_file(providers={"alpha": refused_url(), "beta": second.url})

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="Hello?")

    # then
    assert result.provider == "beta" and result.fallback is True
    assert "alpha: connection failed" in AICall.objects.get().error


def test_retry_after_puts_provider_in_cooldown_and_later_calls_skip_it(company, openai_server, models_file,
                                                                       breaker_clock):
    # given
    first = openai_server(default=error(429, headers={"Retry-After": "30"}))
    second = openai_server(default=ok("from beta"))
    models_file(providers={"alpha": first.url, "beta": second.url}, failure_threshold=5)
    ai_generate(company=company, task_type="quick_response", prompt="one")

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="two")

    # then
    assert result.provider == "beta" and result.fallback is True
    assert len(first.requests) == 1, "alpha is in cooldown: the second call must not reach it"
    assert "alpha: skipped: in cooldown for 30s more after: HTTP 429" in AICall.objects.order_by("-id").first().error
    breaker_clock.advance(30)
    ai_generate(company=company, task_type="quick_response", prompt="three")
    assert len(first.requests) == 2, "after the Retry-After alpha is asked again"


def test_only_provider_in_cooldown_fails_fast_without_a_request(company, openai_server, models_file):
    # given: one provider, no offline fallback, fails twice -> circuit opens
    only = openai_server(default=error(500))
    models_file(providers={"alpha": only.url}, route=["alpha"], failure_threshold=2)
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            ai_generate(company=company, task_type="analysis", prompt="numbers")

    # when
    with pytest.raises(AllProvidersFailed) as caught:
        ai_generate(company=company, task_type="analysis", prompt="numbers")

    # then
    assert len(only.requests) == 2
    assert "in cooldown" in caught.value.reasons["alpha"]
    assert AICall.objects.filter(status="failed").count() == 3


def test_all_failed_lists_each_providers_reason_and_logs_the_failure(company, openai_server, models_file):
    # given
    first = openai_server(default=error(500))
    second = openai_server(default=error(429))
    models_file(providers={"alpha": first.url, "beta": second.url, "gamma": refused_url()},
                route=["alpha", "beta", "gamma"])

    # when
    with pytest.raises(AllProvidersFailed) as caught:
        ai_generate(company=company, task_type="classification", prompt="which label?",
                    context={"labels": ["a", "b"]}, correlation_id="job-7")

    # then
    reasons = caught.value.reasons
    assert list(reasons) == ["alpha", "beta", "gamma"]
    assert reasons["alpha"].startswith("HTTP 500") and reasons["beta"].startswith("HTTP 429")
    assert reasons["gamma"].startswith("connection failed")
    assert caught.value.status == 503 and caught.value.code == "all_providers_failed"
    call = AICall.objects.get()
    assert (call.status, call.error_code, call.correlation_id, call.cost_usd) == (
        "failed", "all_providers_failed", "job-7", 0)
    assert "alpha: HTTP 500" in call.error


def test_request_fault_is_not_retried_elsewhere(company, openai_server, models_file):
    # given
    first = openai_server(default=error(400))
    second = openai_server(default=ok("never"))
    models_file(providers={"alpha": first.url, "beta": second.url})

    # when
    with pytest.raises(ProviderRejectedRequest) as caught:
        ai_generate(company=company, task_type="quick_response", prompt="Hello?")

    # then
    assert "HTTP 400" in caught.value.message
    assert second.requests == []
    assert AICall.objects.get().error_code == "provider_rejected_request"


def test_provider_without_its_key_is_skipped_not_an_error(company, openai_server, models_file, monkeypatch):
    # given
    server = openai_server()
    models_file(providers={"alpha": server.url})
    monkeypatch.delenv("TEST_ALPHA_KEY")

    # when
    result = ai_generate(company=company, task_type="content_generation", prompt="budget planner tips")

    # then
    assert result.provider == "offline" and result.fallback is False
    assert server.requests == []


def test_offline_is_the_last_fallback(company, openai_server, models_file):
    # given
    first = openai_server(default=error(500))
    models_file(providers={"alpha": first.url})

    # when
    result = ai_generate(company=company, task_type="email", prompt="welcome email",
                         context={"purpose": "welcome", "product": "Budget Planner"})

    # then
    assert result.provider == "offline" and result.fallback is True
    assert result.data["subject"].startswith("Welcome")


@pytest.mark.parametrize("answer", [
    raw(200, b"<html>upstream proxy says hi</html>"),
    raw(200, b'{"object": "chat.completion", "choices": []}', "application/json"),
    raw(502, b"<html>Bad gateway</html>"),
])
def test_answers_that_are_not_chat_completions_fail_over(company, openai_server, models_file, answer):
    # given
    first = openai_server(default=answer)
    second = openai_server(default=ok("from beta"))
    models_file(providers={"alpha": first.url, "beta": second.url})

    # when
    result = ai_generate(company=company, task_type="quick_response", prompt="Hello?")

    # then
    assert result.provider == "beta" and result.fallback is True
    assert AICall.objects.get().error.startswith("alpha: ")


def test_structured_inputs_reach_hosted_providers_redacted(company, openai_server, models_file):
    # given
    server = openai_server(default=ok('{"subject": "Your refund", "body": "Hi, your refund is on its way to you."}'))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="email", prompt="Write the refund email",
                         context={"purpose": "follow_up", "customer_email": "bob@example.org"})

    # then
    sent = server.requests[0]["messages"][-1]["content"]
    assert '"purpose": "follow_up"' in sent and "[EMAIL_1]" in sent and "bob@example.org" not in sent
    assert result.data["subject"] == "Your refund"


def test_the_whole_call_has_one_timeout_budget(company, openai_server, models_file):
    # given: two slow providers use up the call's 0.7 s before the third is reached
    slow_a, slow_b, fast = openai_server(default=slow(2)), openai_server(default=slow(2)), openai_server()
    models_file(providers={"alpha": slow_a.url, "beta": slow_b.url, "gamma": fast.url},
                route=["alpha", "beta", "gamma"], timeout_s=0.5, call_timeout_s=0.7)

    # when
    with pytest.raises(AllProvidersFailed) as caught:
        ai_generate(company=company, task_type="quick_response", prompt="Hello?")

    # then
    reasons = caught.value.reasons
    assert reasons["alpha"] == "timed out after 0.5s"
    # beta gets what is left of the 0.7 s (or nothing, on a very slow machine)
    assert reasons["beta"].startswith(("timed out after 0.", "skipped: the call's 0.7s timeout is spent"))
    assert reasons["gamma"] == "skipped: the call's 0.7s timeout is spent"
    assert fast.requests == []
