"""Churn and lifetime value: the library against published values, "not enough history" instead of a guess,
and the holdout check on the demo data."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from autonomax.models import Company
from customers.models import CustomerProfile, LifetimeModel
from customers.services.lifetime import fit, holdout_text, lifetime_refit
from customers.services.segments import profiles_refresh
from tests.factories import CompanyFactory, CustomerFactory, OrderFactory

NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


def test_bg_nbd_and_gamma_gamma_match_the_published_cdnow_values():
    """Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426; Fader, Hardie (2013): p=6.25,
    q=3.74, v=15.44 on the CDNOW sample."""
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    bgf, ggf = fit(load_cdnow_summary_data_with_monetary_value(), penalizer=0.0)
    assert bgf.params_["r"] == pytest.approx(0.243, abs=0.001)
    assert bgf.params_["alpha"] == pytest.approx(4.414, abs=0.01)
    assert bgf.params_["a"] == pytest.approx(0.793, abs=0.01)
    assert bgf.params_["b"] == pytest.approx(2.426, abs=0.01)
    assert ggf.params_["p"] == pytest.approx(6.25, abs=0.01)
    assert ggf.params_["q"] == pytest.approx(3.74, abs=0.01)
    assert ggf.params_["v"] == pytest.approx(15.45, abs=0.01)


def test_a_fit_that_does_not_converge_prints_nothing_and_is_retried_with_a_stronger_penalizer(monkeypatch, capsys):
    from lifetimes import BetaGeoFitter
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
    from lifetimes.utils import ConvergenceError

    # given a BG/NBD fit that does not converge below a penalizer of 0.1 (lifetimes prints scipy's result first)
    real = BetaGeoFitter.fit
    tried = []

    def fit_or_fail(self, *args, **kwargs):
        tried.append(self.penalizer_coef)
        if self.penalizer_coef < 0.1:
            print("      message: Desired error not necessarily achieved due to precision loss.")
            raise ConvergenceError("The model did not converge.")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BetaGeoFitter, "fit", fit_or_fail)
    summary = load_cdnow_summary_data_with_monetary_value()
    # when it is fitted, it is fitted with the stronger penalizer, and nothing is printed
    bgf, _ = fit(summary)
    assert tried == [0.001, 0.01, 0.1] and bgf.penalizer_coef == 0.1
    assert capsys.readouterr().out == ""
    # and a fit that never converges fails with one line, still printing nothing
    def never(self, *args, **kwargs):
        print("OptimizeResult")
        raise ConvergenceError("The model did not converge.")

    monkeypatch.setattr(BetaGeoFitter, "fit", never)
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit(summary)
    assert capsys.readouterr().out == ""


@pytest.mark.django_db
def test_too_little_history_says_so_and_predicts_nothing(settings):
    settings.CLV_MIN_CUSTOMERS = 50
    company = CompanyFactory(slug="acme")
    for i in range(5):
        customer = CustomerFactory(company=company)
        OrderFactory(company=company, customer=customer, created_at=NOW - timedelta(days=10 * i + 1))
    profiles_refresh(company=company, now=NOW)
    model = lifetime_refit(company=company, now=NOW)
    assert model.status == LifetimeModel.Status.NOT_ENOUGH_HISTORY
    assert model.note == "not enough history: 5 buying customers, 50 needed"
    profile = CustomerProfile.objects.filter(company=company).first()
    assert profile.p_alive is None and profile.predicted_value_12m is None
    assert profile.history_note == model.note


@pytest.mark.django_db
def test_fit_on_the_demo_shop_is_checked_against_what_customers_did_later(demo_clock, capsys):
    call_command("seed_demo")
    company = Company.objects.get(slug="demo")
    other = CompanyFactory(slug="globex")  # another shop's whale must not change the demo's fit
    whale = CustomerFactory(company=other)
    for day in range(1, 80):
        OrderFactory(company=other, customer=whale, created_at=datetime.now(UTC) - timedelta(days=day),
                     total=Decimal("900"))
    profiles_refresh(company=company)
    model = lifetime_refit(company=company)
    assert model.status == LifetimeModel.Status.FITTED, model.note
    assert model.version == 1 and model.customers > 300 and model.repeat_customers > 50
    holdout = model.holdout
    with capsys.disabled():
        print(f"\ndemo (fit at {NOW:%Y-%m-%d}):\n{holdout_text(model)}")
    assert 0 < holdout["mae"] < 1
    assert len(holdout["calibration"]) == 10
    # The model ranks customers: those it expects most from bought more in the holdout than those it
    # expects least from. (In total it over-predicts: the demo's repeat rate halves in its last two weeks.)
    calibration = holdout["calibration"]
    assert sum(d["actual"] for d in calibration[-3:]) > sum(d["actual"] for d in calibration[:3])
    profile = CustomerProfile.objects.filter(company=company, orders__gte=2).first()
    assert 0 <= profile.p_alive <= 1 and profile.expected_purchases_90d > 0
    assert profile.predicted_value_12m > 0 and profile.model == model
    assert not CustomerProfile.objects.filter(company=company, customer=whale).exists()
    # the command refits (version 2) and prints the same check: MAE and the ten deciles
    capsys.readouterr()
    call_command("lifetime_fit", "--company", "demo")
    printed = capsys.readouterr().out
    assert printed.startswith("== demo\nmodel v2 (fitted)") and f"mean absolute error: {holdout['mae']} " in printed
    assert len([line for line in printed.splitlines() if line.strip()[:2].strip().isdigit()]) == 10
    assert LifetimeModel.objects.filter(company=company).count() == 2


@pytest.mark.django_db
def test_the_model_admin_shows_the_calibration_by_decile(client, company):
    from django.contrib.auth import get_user_model

    # given a fitted model's holdout check
    calibration = [{"decile": d, "customers": 10, "predicted": round(0.05 * d, 3), "actual": round(0.04 * d, 3)}
                   for d in range(1, 11)]
    model = LifetimeModel.objects.create(company=company, version=1, status=LifetimeModel.Status.FITTED,
                                         fitted_at=NOW, holdout={"mae": 0.31, "days": 29, "calibration": calibration})
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-long-enough-1"))
    # when
    page = client.get(f"/admin/customers/lifetimemodel/{model.pk}/change/").content.decode()
    # then the deciles are a table, not raw JSON
    assert '<table class="calibration">' in page and "<tr><td>10</td><td>10</td><td>0.5</td><td>0.4</td></tr>" in page


@pytest.mark.django_db
def test_the_holdout_evaluation_of_a_company_reads_only_its_orders_and_stores_no_model(
        settings, company, other_company):
    from commerce.models import Order
    from customers.services.lifetime import holdout_evaluate

    # given two shops with paid orders over 120 days, the other's customers buying much more often
    settings.CLV_MIN_CUSTOMERS, settings.CLV_MIN_REPEAT_CUSTOMERS = 10, 3
    for shop, every in ((company, 23), (other_company, 4)):
        for i in range(30):
            customer = CustomerFactory(company=shop)
            for day in range(i % 20, 120, every + i % 7):
                OrderFactory(company=shop, customer=customer, created_at=NOW - timedelta(days=120 - day, hours=i))
    # when the company's model is checked against its last 40 days
    checked = holdout_evaluate(company=company, now=NOW)
    # then it is the holdout check of its own orders: the other shop's do not change it, and no model is kept
    assert checked["customers"] == 30 and checked["days"] == 40 and "mae" in checked
    Order.objects.filter(company=other_company).delete()
    assert holdout_evaluate(company=company, now=NOW) == checked
    assert not LifetimeModel.objects.exists()
    # and a shop without a paid order says so
    assert holdout_evaluate(company=other_company, now=NOW) == {"note": "not enough history: no paid orders"}
