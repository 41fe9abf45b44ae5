"""`reset_demo_passwords`: the way back in after the one-time demo passwords scrolled away."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from autonomax.demo_users import demo_users_create
from autonomax.models import Role

from ..factories import CompanyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """What is tested is which passwords work, not the hasher: the default one takes a second a hash here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _reset(*args) -> dict[str, str]:
    out = StringIO()
    call_command("reset_demo_passwords", *args, stdout=out)
    return dict(re.findall(r"login: (\S+)\s+password: (\S+)", out.getvalue()))


@pytest.fixture
def demo():
    company = CompanyFactory(slug="demo")
    first = {login.username: login.password for login in demo_users_create(company=company)}
    return company, first


def test_prints_a_new_password_for_each_demo_user_and_only_the_new_ones_work(demo):
    # given
    _, first = demo

    # when
    new = _reset()

    # then
    assert sorted(new) == ["operator", "owner", "viewer"]
    for username, password in new.items():
        user = User.objects.get(username=username)
        assert password != first[username] and len(password) >= 16
        assert user.check_password(password) and not user.check_password(first[username])


def test_each_reset_gives_different_passwords(demo):
    assert _reset() != _reset()


def test_a_locked_out_demo_user_can_log_in_with_the_new_password(client, demo):
    # given the owner locked out by wrong passwords
    for i in range(5):
        client.post("/accounts/login/", {"username": "owner", "password": f"wrong-{i}"})
    assert client.post("/accounts/login/", {"username": "owner", "password": "wrong"}).status_code == 429

    # when
    password = _reset()["owner"]

    # then
    response = client.post("/accounts/login/", {"username": "owner", "password": password})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(User.objects.get(
        username="owner").pk)


def test_other_companies_and_their_users_are_left_alone(demo, other_company):
    # given a demo user that left the demo company for another one, and another company's own demo users
    demo_company, _ = demo
    viewer = User.objects.get(username="viewer")
    viewer.memberships.all().delete()
    MembershipFactory(user=viewer, company=other_company, role=Role.OWNER)
    viewer_hash = viewer.password
    other = {login.username: login.password for login in demo_users_create(company=other_company)}
    bystander = UserFactory(username="bystander")
    MembershipFactory(user=bystander, company=demo_company, role=Role.OWNER)
    bystander_hash = bystander.password

    # when
    new = _reset()

    # then
    assert sorted(new) == ["operator", "owner"]
    assert User.objects.get(username="viewer").password == viewer_hash
    assert User.objects.get(username="bystander").password == bystander_hash
    for username, password in other.items():
        assert User.objects.get(username=username).check_password(password)


def test_another_demo_company_by_slug(demo, other_company):
    # given
    other = {login.username: login.password for login in demo_users_create(company=other_company)}

    # when
    new = _reset("--slug", other_company.slug)

    # then
    assert sorted(new) == sorted(other) == [f"{other_company.slug}-{n}" for n in ("operator", "owner", "viewer")]
    assert User.objects.get(username="owner").check_password(demo[1]["owner"])


def test_without_the_demo_company_it_says_how_to_create_it():
    with pytest.raises(CommandError, match="seed_demo"):
        _reset()


def test_a_demo_company_without_its_users_says_how_to_create_them():
    CompanyFactory(slug="demo")

    with pytest.raises(CommandError, match="seed_demo"):
        _reset()
