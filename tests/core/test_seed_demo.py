import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from autonomax.models import Company
from commerce.models import Order, Product
from growth.models import Lead
from support.models import Ticket

# The demo data is relative to "now": pin it (tests/conftest.py DEMO_NOW).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_clock")]


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_company_users_and_history():
    output = _seed()

    company = Company.objects.get(slug="demo")
    assert Product.objects.filter(company=company, status="active").count() >= 5
    assert Order.objects.filter(company=company).count() > 300
    assert Lead.objects.filter(company=company).count() > 500
    assert Ticket.objects.filter(company=company).count() > 100
    password = re.search(r"owner\s+login: owner\s+password: (\S+)", output).group(1)
    assert get_user_model().objects.get(username="owner").check_password(password)


def test_seed_demo_passwords_are_random_not_fixed():
    first = re.search(r"password: (\S+)", _seed()).group(1)
    get_user_model().objects.all().delete()
    Company.objects.all().delete()

    second = re.search(r"password: (\S+)", _seed()).group(1)

    assert first != second


def test_seed_demo_rerun_duplicates_nothing():
    _seed()
    counts = (Order.objects.count(), Lead.objects.count(), Ticket.objects.count(), Product.objects.count())

    output = _seed()

    assert (Order.objects.count(), Lead.objects.count(), Ticket.objects.count(), Product.objects.count()) == counts
    assert "password" not in output
