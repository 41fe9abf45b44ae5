"""Churn and lifetime value: BG/NBD (is the customer still buying, how often) and Gamma-Gamma (how much per
order), fitted per company with the `lifetimes` library, and checked against what customers later did.

Below the minimum history (settings CLV_MIN_CUSTOMERS buying customers, CLV_MIN_REPEAT_CUSTOMERS who bought
twice) nothing is predicted: the profile says "not enough history", never a guess.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from commerce.selectors import customer_purchases

from ..models import CustomerProfile, LifetimeModel

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)
HOLDOUT_DAYS = 90
CENT = Decimal("0.01")


def _summary(purchases: list[dict], *, now) -> pd.DataFrame:
    """Per customer: frequency (repeat purchase days), recency and age T in days, mean repeat order value."""
    import pandas as pd  # noqa: PLC0415  (pandas and lifetimes load for the nightly fit, not at start-up)
    from lifetimes.utils import summary_data_from_transaction_data  # noqa: PLC0415

    frame = pd.DataFrame({"customer_id": [p["customer_id"] for p in purchases],
                          "date": [p["paid_at"].replace(tzinfo=None) for p in purchases],
                          "value": [float(p["net"]) for p in purchases]})
    return summary_data_from_transaction_data(frame, "customer_id", "date", monetary_value_col="value",
                                              observation_period_end=now.replace(tzinfo=None), freq="D")


def _enough(summary: pd.DataFrame) -> str:
    """'' when there is enough history to fit, else the reason."""
    buyers, repeat = len(summary), int((summary["frequency"] > 0).sum())
    if buyers < settings.CLV_MIN_CUSTOMERS:
        return f"not enough history: {buyers} buying customers, {settings.CLV_MIN_CUSTOMERS} needed"
    if repeat < settings.CLV_MIN_REPEAT_CUSTOMERS:
        return f"not enough history: {repeat} repeat customers, {settings.CLV_MIN_REPEAT_CUSTOMERS} needed"
    return ""


def fit(summary: pd.DataFrame, *, penalizer: float = 0.001):
    """(BetaGeoFitter, GammaGammaFitter) fitted on a summary frame (a small penalizer keeps small shops'
    fits from diverging)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: PLC0415
    from lifetimes.utils import ConvergenceError  # noqa: PLC0415

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    # lifetimes prints scipy's whole OptimizeResult before it raises on a fit that does not converge: that
    # goes nowhere, and a fit that fails is retried with a stronger penalizer before it is given up.
    for coef in [penalizer, *(p for p in (0.01, 0.1) if p > penalizer)]:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                bgf = BetaGeoFitter(penalizer_coef=coef).fit(summary["frequency"], summary["recency"], summary["T"])
                ggf = GammaGammaFitter(penalizer_coef=coef).fit(repeat["frequency"], repeat["monetary_value"])
            return bgf, ggf
        except ConvergenceError:
            continue
    raise ConvergenceError(f"the BG/NBD or Gamma-Gamma fit did not converge (penalizer up to {coef})")


def holdout_days(purchases: list[dict], *, now) -> int:
    """90 days when there are at least 270 days of history (fit on months 1..N-3, predict N-2..N);
    a third of a shorter history, but at least 14 days."""
    span = (now - purchases[0]["paid_at"]).days if purchases else 0
    return HOLDOUT_DAYS if span >= 3 * HOLDOUT_DAYS else max(14, span // 3)


def holdout_check(purchases: list[dict], *, now) -> dict:
    """Fit on the history before the holdout period, predict each customer's purchases in it and compare
    with what they did: mean absolute error per customer and calibration by decile of prediction."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    days = holdout_days(purchases, now=now)
    cutoff = now - timedelta(days=days)
    before = [p for p in purchases if p["paid_at"] < cutoff]
    if not before:
        return {"note": "no history before the holdout period"}
    summary = _summary(before, now=cutoff)
    reason = _enough(summary)
    if reason:
        return {"note": reason}
    bgf, _ = fit(summary)
    predicted = bgf.conditional_expected_number_of_purchases_up_to_time(
        days, summary["frequency"], summary["recency"], summary["T"])
    actual = pd.Series(0, index=summary.index, dtype=float)
    for p in purchases:
        if cutoff <= p["paid_at"] < now and p["customer_id"] in actual.index:
            actual[p["customer_id"]] += 1
    deciles = pd.qcut(predicted.rank(method="first"), 10, labels=False) if len(predicted) >= 10 else None
    calibration = []
    if deciles is not None:
        for decile in range(10):
            mask = deciles == decile
            calibration.append({"decile": decile + 1, "predicted": round(float(predicted[mask].mean()), 3),
                                "actual": round(float(actual[mask].mean()), 3), "customers": int(mask.sum())})
    return {
        "cutoff": cutoff.date().isoformat(), "days": days, "customers": len(summary),
        "mae": round(float(np.abs(predicted - actual).mean()), 4),
        "predicted_total": round(float(predicted.sum()), 1), "actual_total": int(actual.sum()),
        "calibration": calibration,
    }


def holdout_evaluate(*, company, now) -> dict:
    """The holdout check on the company's paid orders before `now`, without storing a model (the
    simulator's sandboxes): holdout_check's result, or {"note": why} when it cannot be evaluated."""
    import numpy as np  # noqa: PLC0415

    purchases = customer_purchases(company=company, until=now)
    if not purchases:
        return {"note": "not enough history: no paid orders"}
    try:
        return holdout_check(purchases, now=now)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a fit that does not converge
        return {"note": f"fit failed: {' '.join(str(exc).split())}"[:300]}


def lifetime_refit(*, company, now=None) -> LifetimeModel:
    """Fit the company's model, store it as the next version and write every profile's predictions."""
    import numpy as np  # noqa: PLC0415
    now = now or timezone.now()
    purchases = customer_purchases(company=company, until=now)
    version = (LifetimeModel.objects.filter(company=company).aggregate(v=Max("version"))["v"] or 0) + 1
    summary = _summary(purchases, now=now) if purchases else None
    reason = _enough(summary) if summary is not None else "not enough history: no paid orders"
    model = LifetimeModel(company=company, version=version, fitted_at=now,
                          customers=0 if summary is None else len(summary),
                          repeat_customers=0 if summary is None else int((summary["frequency"] > 0).sum()))
    predictions = {}
    if reason:
        model.status, model.note = LifetimeModel.Status.NOT_ENOUGH_HISTORY, reason
    else:
        try:
            bgf, ggf = fit(summary)
            predictions = _predict(bgf, ggf, summary)
            model.status = LifetimeModel.Status.FITTED
            model.params = {**{k: round(float(v), 6) for k, v in bgf.params_.items()},
                            **{f"gg_{k}": round(float(v), 6) for k, v in ggf.params_.items()}}
            model.holdout = holdout_check(purchases, now=now)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a fit that does not converge
            # must not stop the nightly run
            logger.warning("lifetime fit failed for %s: %s", company.slug, exc)
            model.status, model.note = LifetimeModel.Status.FAILED, f"fit failed: {exc}"[:300]
    with transaction.atomic():
        model.save()
        profiles = list(CustomerProfile.objects.filter(company=company))
        for profile in profiles:
            values = predictions.get(profile.customer_id)
            if values:
                profile.p_alive, profile.expected_purchases_90d = values["p_alive"], values["purchases_90d"]
                profile.expected_order_value, profile.predicted_value_12m = values["order_value"], values["value_12m"]
                profile.history_note = ""
            else:
                profile.p_alive = profile.expected_purchases_90d = None
                profile.expected_order_value = profile.predicted_value_12m = None
                profile.history_note = model.note or "no paid orders yet"
            profile.model = model
        CustomerProfile.objects.bulk_update(profiles, ["p_alive", "expected_purchases_90d", "expected_order_value",
                                                       "predicted_value_12m", "history_note", "model"])
    return model


def _predict(bgf, ggf, summary: pd.DataFrame) -> dict:
    import numpy as np  # noqa: PLC0415

    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    p_alive = bgf.conditional_probability_alive(f, r, t)
    purchases_90d = bgf.conditional_expected_number_of_purchases_up_to_time(90, f, r, t)
    order_value = ggf.conditional_expected_average_profit(f, summary["monetary_value"])
    # 12 months of expected purchases at the expected order value, discounted 1% a month.
    value_12m = ggf.customer_lifetime_value(bgf, f, r, t, summary["monetary_value"], time=12, discount_rate=0.01,
                                            freq="D")
    columns = [np.asarray(c, dtype=float) for c in (p_alive, purchases_90d, order_value, value_12m)]
    return {
        customer_id: {"p_alive": round(alive, 4), "purchases_90d": round(purchases, 4),
                      "order_value": Decimal(str(value)).quantize(CENT),
                      "value_12m": Decimal(str(total)).quantize(CENT)}
        for customer_id, alive, purchases, value, total in zip(summary.index, *columns, strict=True)
    }


def holdout_text(model: LifetimeModel) -> str:
    """The model's check against the future as plain text: MAE, totals and the calibration by decile."""
    holdout = model.holdout or {}
    lines = [f"model v{model.version} ({model.status}), {model.customers} customers, "
             f"{model.repeat_customers} repeat customers"]
    if "mae" not in holdout:
        return "\n".join([*lines, f"holdout: {holdout.get('note') or model.note or 'not evaluated'}"])
    lines += [f"holdout: fit before {holdout['cutoff']}, predict the {holdout['days']} days after, "
              f"{holdout['customers']} customers",
              f"mean absolute error: {holdout['mae']} purchases per customer; predicted "
              f"{holdout['predicted_total']}, bought {holdout['actual_total']}",
              "decile  customers  predicted  actual  (mean purchases per customer; 10 = highest predicted)"]
    lines += [f"{d['decile']:>6}  {d['customers']:>9}  {d['predicted']:>9.3f}  {d['actual']:>6.3f}"
              for d in holdout.get("calibration", [])]
    return "\n".join(lines)
