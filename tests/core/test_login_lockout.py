"""Logins are rate-limited (django-axes) and failed API token checks are throttled per client address."""

import itertools

import pytest
from django.contrib.auth.models import User

from autonomax.models import Role
from autonomax.security import token_failures_forget

from ..factories import CompanyFactory, MembershipFactory, member_with_token

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


@pytest.fixture
def person(db):
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    MembershipFactory(user=user, company=CompanyFactory(slug="acme"), role=Role.OWNER)
    return user


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_login_and_the_right_one_no_longer_works(client, person, path):
    # given four wrong passwords, each answered with the form again
    address = next(_addresses)
    statuses = [client.post(path, {"username": "ana", "password": f"wrong-{i}"}, REMOTE_ADDR=address).status_code
                for i in range(4)]

    # when the fifth is wrong too, and then the right one is tried
    fifth = client.post(path, {"username": "ana", "password": "wrong-5"}, REMOTE_ADDR=address)
    right = client.post(path, {"username": "ana", "password": PASSWORD}, REMOTE_ADDR=address)

    # then
    assert statuses == [200, 200, 200, 200]
    assert fifth.status_code == 429 and b"Too many failed logins" in fifth.content
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_correct_login_before_the_limit_resets_the_count(client, person):
    address = next(_addresses)
    for i in range(4):
        client.post("/accounts/login/", {"username": "ana", "password": f"wrong-{i}"}, REMOTE_ADDR=address)

    ok = client.post("/accounts/login/", {"username": "ana", "password": PASSWORD}, REMOTE_ADDR=address)
    client.logout()
    again = [client.post("/accounts/login/", {"username": "ana", "password": "wrong"}, REMOTE_ADDR=address)
             .status_code for _ in range(4)]

    assert ok.status_code == 302
    assert again == [200, 200, 200, 200]


def test_the_lockout_is_for_that_username_from_that_address(client, person):
    locked_address, other_address = next(_addresses), next(_addresses)
    for i in range(5):
        client.post("/accounts/login/", {"username": "ana", "password": f"wrong-{i}"}, REMOTE_ADDR=locked_address)

    from_elsewhere = client.post("/accounts/login/", {"username": "ana", "password": PASSWORD},
                                 REMOTE_ADDR=other_address)

    assert from_elsewhere.status_code == 302  # a guesser elsewhere cannot lock the owner out


@pytest.fixture
def token_limit(settings):
    for n in range(1, 40):  # the counts live in the shared cache: none left from an earlier run
        token_failures_forget(f"203.0.113.{n}")
        token_failures_forget(f"198.51.100.{n}")
    settings.API_TOKEN_FAILURE_LIMIT = 10
    settings.API_TOKEN_FAILURE_WINDOW = 300
    return settings


def test_bogus_tokens_are_throttled_per_address(client, token_limit):
    # given a client sending 15 bogus tokens
    address = next(_addresses)

    # when
    statuses = [client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token ax_bogus{i}", REMOTE_ADDR=address)
                for i in range(15)]

    # then: ten 401s, then 429 in the JSON error shape with Retry-After
    assert [r.status_code for r in statuses] == [401] * 10 + [429] * 5
    last = statuses[-1]
    assert last.json()["error"]["code"] == "throttled"
    assert 0 < int(last["Retry-After"]) <= 300


def test_throttled_address_is_refused_even_with_a_valid_token_and_others_are_not(client, token_limit):
    membership, key = member_with_token(company=CompanyFactory(slug="acme"))
    guesser, neighbour = next(_addresses), next(_addresses)
    for i in range(10):
        client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token ax_bogus{i}", REMOTE_ADDR=guesser)

    from_guesser = client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=guesser)
    from_neighbour = client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=neighbour)

    assert from_guesser.status_code == 429
    assert from_neighbour.status_code == 200


def test_the_window_ends(client, token_limit, time_machine):
    time_machine.move_to("2026-11-07T10:00:00Z", tick=True)
    address = next(_addresses)
    for i in range(10):
        client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token ax_bogus{i}", REMOTE_ADDR=address)
    assert client.get("/api/v1/kpis/", HTTP_AUTHORIZATION="Token ax_x", REMOTE_ADDR=address).status_code == 429

    time_machine.shift(301)

    assert client.get("/api/v1/kpis/", HTTP_AUTHORIZATION="Token ax_x", REMOTE_ADDR=address).status_code == 401


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, token_limit):
    token_limit.TRUSTED_PROXY_COUNT = 1
    proxy = next(_addresses)
    for i in range(10):
        client.get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token ax_b{i}", REMOTE_ADDR=proxy,
                   HTTP_X_FORWARDED_FOR="198.51.100.7")

    other_client = client.get("/api/v1/kpis/", HTTP_AUTHORIZATION="Token ax_b", REMOTE_ADDR=proxy,
                              HTTP_X_FORWARDED_FOR="198.51.100.8")
    spoofed = client.get("/api/v1/kpis/", HTTP_AUTHORIZATION="Token ax_b", REMOTE_ADDR=proxy,
                         HTTP_X_FORWARDED_FOR="10.0.0.1, 198.51.100.7")

    assert other_client.status_code == 401
    assert spoofed.status_code == 429  # what the client prepends is not trusted
