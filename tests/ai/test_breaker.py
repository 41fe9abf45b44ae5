from chimera.ai.breaker import CircuitBreaker


def test_opens_after_the_threshold_and_closes_after_a_success(manual_clock):
    # given
    breaker = CircuitBreaker(clock=manual_clock)

    # when: two failures stay under the threshold of three, the third opens the circuit
    for _ in range(2):
        breaker.record_failure("alpha", reason="HTTP 500", threshold=3, cooldown_s=60)
    closed_before = breaker.cooldown_left("alpha")
    breaker.record_failure("alpha", reason="HTTP 500", threshold=3, cooldown_s=60)

    # then
    assert closed_before == 0 and breaker.cooldown_left("alpha") == 60
    manual_clock.advance(61)
    assert breaker.cooldown_left("alpha") == 0, "after the cooldown one trial call may go through"
    breaker.record_failure("alpha", reason="HTTP 500 again", threshold=3, cooldown_s=60)
    assert breaker.cooldown_left("alpha") == 60, "a failed trial re-opens at once"
    manual_clock.advance(61)
    breaker.record_success("alpha")
    breaker.record_failure("alpha", reason="one blip", threshold=3, cooldown_s=60)
    assert breaker.cooldown_left("alpha") == 0, "a success resets the count"


def test_retry_after_opens_at_once_for_that_long(manual_clock):
    breaker = CircuitBreaker(clock=manual_clock)

    breaker.record_failure("beta", reason="HTTP 429", threshold=3, cooldown_s=60, retry_after_s=7)

    assert breaker.cooldown_left("beta") == 7 and breaker.reason("beta") == "HTTP 429"
