"""API rate limits: a counter per client and window; over the limit is a 429 with Retry-After."""

import pytest
from django.core.cache import cache

from autonomax import throttling


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(throttling.UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"})
    monkeypatch.setattr(throttling.AnonRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "2/minute"})
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_a_client_over_its_rate_gets_429_and_others_do_not(three_a_minute, owner_api, viewer_api):
    _, owner = owner_api
    _, viewer = viewer_api
    assert [owner.get("/api/v1/kpis/").status_code for _ in range(3)] == [200, 200, 200]
    refused = owner.get("/api/v1/kpis/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"]
    assert viewer.get("/api/v1/kpis/").status_code == 200  # another user has their own count


@pytest.mark.django_db
def test_the_next_window_starts_a_new_count(three_a_minute, owner_api, monkeypatch):
    _, owner = owner_api
    now = [1_000_000.0]
    monkeypatch.setattr(throttling.UserRateThrottle, "timer", lambda self: now[0])
    for _ in range(3):
        owner.get("/api/v1/kpis/")
    assert owner.get("/api/v1/kpis/").status_code == 429
    now[0] += 60
    assert owner.get("/api/v1/kpis/").status_code == 200
