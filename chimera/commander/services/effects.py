"""The statistics of evidence: an effect, its interval, the probability it helps, and a verdict.

Pure functions on numbers (no database), so each can be checked against known answers:

- `holdout_rate`: a per-person rate (converted, refunded, replied) in the treated group against the
  held-out group: Bayesian Beta-Binomial, uniform Beta(1, 1) priors, Monte Carlo draws of both rates
  (seeded, so the same data always gives the same interval).
- `holdout_amount`: a per-person amount (revenue): Welch's t interval on the difference of means
  (scipy); the relative interval is that interval over the control mean.
- `counterfactual`: a store-wide play: the KPI's daily series before the play's start, fitted by a
  structural model of level + linear trend + weekday seasonality (statsmodels OLS; the deterministic
  special case of a structural time-series model, which keeps the forecast interval exact and the fit
  fast on the short series a shop has). The forecast over the window, with its prediction interval
  (parameter uncertainty and daily noise), is what would have happened without the play.

Every interval is a central `LEVEL` (90%) interval, so a play with no effect is called a `win` in at
most 5% of its runs (and a `loss` in 5%). Effects are signed in the KPI's own units ("refund rate
-0.01"); the verdict reads them in the KPI's good direction:

- `win`: the interval lies above zero (in the good direction);
- `loss`: the interval lies below zero;
- `no_effect`: the interval excludes every effect at least as big as the play's minimum worthwhile
  effect, either way;
- `inconclusive`: anything else; `needed` says roughly how many times more data would settle it.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np  # loaded by the functions that compute, not at start-up

LEVEL = 0.90
DRAWS = 20_000
MIN_PRE_DAYS = 14  # two of each weekday at least
TREND_P = 0.05  # the pre-period's trend is kept when it is this clear


class Verdict:
    WIN = "win"
    LOSS = "loss"
    NO_EFFECT = "no_effect"
    INCONCLUSIVE = "inconclusive"
    CHOICES = [(WIN, "Win"), (LOSS, "Loss"), (NO_EFFECT, "No effect"), (INCONCLUSIVE, "Inconclusive")]


@dataclass
class Measured:
    """One measured effect. `effect_rel`, `ci_low`, `ci_high` are relative (0.1 = +10%)."""

    method: str
    effect: float | None = None  # absolute, KPI units (per person for holdouts, per day for counterfactuals)
    effect_rel: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_low_abs: float | None = None
    ci_high_abs: float | None = None
    prob_improvement: float | None = None
    verdict: str = Verdict.INCONCLUSIVE
    needed: float | None = None  # times the current data that would likely settle an inconclusive result
    treated_n: int | None = None
    control_n: int | None = None
    pre_days: int | None = None
    note: str = ""
    chart: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _z(level: float) -> float:
    from scipy.stats import norm  # noqa: PLC0415 - scipy loads only where evidence is measured

    return float(norm.ppf((1 + level) / 2))


def verdict_for(*, low: float | None, high: float | None, mde: float, direction: str = "up") -> str:
    """The verdict of a relative interval, read in the KPI's good direction; `mde` > 0 as a fraction."""
    import numpy as np  # noqa: PLC0415

    if low is None or high is None or not np.isfinite(low) or not np.isfinite(high):
        return Verdict.INCONCLUSIVE
    lo, hi = (low, high) if direction == "up" else (-high, -low)
    if lo > 0:
        return Verdict.WIN
    if hi < 0:
        return Verdict.LOSS
    if mde > 0 and hi < mde and lo > -mde:
        return Verdict.NO_EFFECT
    return Verdict.INCONCLUSIVE


def data_needed(*, low: float, high: float, mde: float) -> float | None:
    """Roughly how many times the current data an inconclusive result needs: an interval narrows with the
    square root of the data, and it must shrink to half-width `mde / 2` to be decisive either way."""
    import numpy as np  # noqa: PLC0415

    if mde <= 0 or not np.isfinite(low) or not np.isfinite(high):
        return None
    half = (high - low) / 2
    target = mde / 2
    return round(float(max(1.0, (half / target) ** 2)), 1)


def _finish(m: Measured, *, mde: float, direction: str) -> Measured:
    m.verdict = verdict_for(low=m.ci_low, high=m.ci_high, mde=mde, direction=direction)
    if m.verdict == Verdict.INCONCLUSIVE and m.ci_low is not None and m.ci_high is not None:
        m.needed = data_needed(low=m.ci_low, high=m.ci_high, mde=mde)
    return m


def _round(value, digits=6):
    import numpy as np  # noqa: PLC0415

    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def holdout_rate(*, treated_n: int, treated_x: int, control_n: int, control_x: int, mde: float,
                 direction: str = "up", seed: int = 0, level: float = LEVEL) -> Measured:
    """A per-person rate: treated x/n against held-out x/n (Beta-Binomial posterior draws)."""
    import numpy as np  # noqa: PLC0415

    m = Measured(method="holdout", treated_n=treated_n, control_n=control_n)
    if treated_n <= 0 or control_n <= 0:
        m.note = "no treated or no held-out people to compare"
        return m
    rng = np.random.default_rng(seed)
    pt = rng.beta(1 + treated_x, 1 + treated_n - treated_x, DRAWS)
    pc = rng.beta(1 + control_x, 1 + control_n - control_x, DRAWS)
    tail = (1 - level) / 2
    rel = pt / pc - 1
    rt, rc = treated_x / treated_n, control_x / control_n
    m.effect = _round(rt - rc)
    m.effect_rel = _round(rt / rc - 1) if rc > 0 else _round(np.median(rel))
    m.ci_low, m.ci_high = (_round(v) for v in np.quantile(rel, [tail, 1 - tail]))
    m.ci_low_abs, m.ci_high_abs = (_round(v) for v in np.quantile(pt - pc, [tail, 1 - tail]))
    m.prob_improvement = _round(float(np.mean(pt > pc) if direction == "up" else np.mean(pt < pc)), 4)
    m.chart = {"kind": "groups", "treated": {"n": treated_n, "x": treated_x, "rate": _round(rt)},
               "control": {"n": control_n, "x": control_x, "rate": _round(rc)}}
    return _finish(m, mde=mde, direction=direction)


def holdout_amount(*, treated: list[float], control: list[float], mde: float, direction: str = "up",
                   level: float = LEVEL) -> Measured:
    """A per-person amount (revenue per person): Welch's interval on the difference of means."""
    import numpy as np  # noqa: PLC0415
    from scipy import stats  # noqa: PLC0415

    m = Measured(method="holdout", treated_n=len(treated), control_n=len(control))
    if len(treated) < 2 or len(control) < 2:
        m.note = "fewer than two treated or held-out people to compare"
        return m
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    mt, mc = float(t.mean()), float(c.mean())
    m.effect = _round(mt - mc)
    m.chart = {"kind": "groups", "treated": {"n": len(t), "mean": _round(mt)},
               "control": {"n": len(c), "mean": _round(mc)}}
    se = float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))
    if se == 0:
        m.note = "every person has the same amount: no spread to measure"
        if mt != mc and mc:
            m.effect_rel = m.ci_low = m.ci_high = _round((mt - mc) / mc)
            m.prob_improvement = 1.0 if (mt > mc) == (direction == "up") else 0.0
        return _finish(m, mde=mde, direction=direction)
    result = stats.ttest_ind(t, c, equal_var=False)
    ci = result.confidence_interval(confidence_level=level)
    m.ci_low_abs, m.ci_high_abs = _round(ci.low), _round(ci.high)
    gain = (mt - mc) if direction == "up" else (mc - mt)
    m.prob_improvement = _round(float(stats.t.cdf(gain / se, result.df)), 4)
    if mc > 0:
        m.effect_rel = _round((mt - mc) / mc)
        m.ci_low, m.ci_high = _round(ci.low / mc), _round(ci.high / mc)
    else:
        m.note = "the held-out group's mean is zero: no relative effect"
    return _finish(m, mde=mde, direction=direction)


def _design(days: list[date], origin: date) -> np.ndarray:
    """intercept, trend (days since origin), six weekday indicators (Monday is the base)."""
    import numpy as np  # noqa: PLC0415

    rows = []
    for d in days:
        weekday = [1.0 if d.weekday() == k else 0.0 for k in range(1, 7)]
        rows.append([1.0, float((d - origin).days), *weekday])
    return np.asarray(rows)


def counterfactual(*, pre: list[tuple[date, float]], post: list[tuple[date, float]], mde: float,
                   direction: str = "up", level: float = LEVEL, trend: bool = True) -> Measured:
    """Actual minus forecast over the window; the forecast from the pre-period (weekday + trend)."""
    import numpy as np  # noqa: PLC0415
    import statsmodels.api as sm  # noqa: PLC0415
    from scipy import stats  # noqa: PLC0415

    pre = [(d, float(v)) for d, v in pre if v is not None]
    post = [(d, float(v)) for d, v in post if v is not None]
    while pre and pre[0][1] == 0:
        pre = pre[1:]  # days before the shop's first activity are not history
    m = Measured(method="counterfactual", pre_days=len(pre))
    if len(pre) < MIN_PRE_DAYS:
        m.note = f"{len(pre)} days of history before the start; the forecast needs at least {MIN_PRE_DAYS}"
        m.needed = round(MIN_PRE_DAYS / max(1, len(pre)), 1)
        return m
    if not post:
        m.note = "no daily values in the measurement window"
        return m
    # The days need not follow each other (days another play acted on are left out): the trend is fitted on
    # each day's own offset and the weekdays on its own date, but each weekday of the window needs its history.
    seen = Counter(d.weekday() for d, _ in pre)
    thin = sorted({d.weekday() for d, _ in post if seen[d.weekday()] < 2})
    if thin:
        m.note = (f"the pre-period holds fewer than two of {', '.join(calendar.day_name[k] for k in thin)}: "
                  f"no forecast for the window's weekdays")
        return m
    origin = pre[-1][0]
    ys_pre, ys_post = np.asarray([v for _, v in pre]), np.asarray([v for _, v in post])
    # A shop's weekday pattern multiplies its level: on positive series the model is fitted on logs.
    log = bool((ys_pre > 0).all() and (ys_post > 0).all())
    y_pre = np.log(ys_pre) if log else ys_pre
    x_pre, x_post = _design([d for d, _ in pre], origin), _design([d for d, _ in post], origin)
    fit = sm.OLS(y_pre, x_pre).fit()
    if not trend or fit.pvalues[1] > TREND_P:
        # No trend the pre-period can tell from noise: level and weekdays only (a narrower, honest band).
        x_pre, x_post = np.delete(x_pre, 1, axis=1), np.delete(x_post, 1, axis=1)
        fit = sm.OLS(y_pre, x_pre).fit()
    m.chart["trend"] = x_pre.shape[1] == 8
    m.chart["scale"] = "log" if log else "linear"
    cov, sigma2, h = np.asarray(fit.cov_params()), float(fit.scale), len(post)
    daily = x_post @ fit.params
    # The window's mean: its variance is the parameters' part plus the days' own noise.
    a = x_post.mean(axis=0)
    se = float(np.sqrt(max(0.0, a @ cov @ a + sigma2 / h)))
    df = max(1.0, float(fit.df_resid))
    q = float(stats.t.ppf((1 + level) / 2, df))
    actual = float(ys_post.mean())
    if log:
        # On logs the effect is a ratio: exp(mean log actual - mean log forecast) - 1.
        diff_log = float(np.log(ys_post).mean() - daily.mean())
        forecast = actual / float(np.exp(diff_log))
        rel, rel_low, rel_high = (float(np.expm1(v)) for v in (diff_log, diff_log - q * se, diff_log + q * se))
        gain = diff_log if direction == "up" else -diff_log
    else:
        forecast = float(daily.mean())
        diff = actual - forecast
        rel, rel_low, rel_high = ((v / forecast if forecast > 0 else None)
                                  for v in (diff, diff - q * se, diff + q * se))
        gain = diff if direction == "up" else -diff
        if forecast <= 0:
            m.note = "the forecast is zero or below: no relative effect"
    m.effect = _round(actual - forecast)
    m.effect_rel, m.ci_low, m.ci_high = _round(rel), _round(rel_low), _round(rel_high)
    if rel_low is not None:
        m.ci_low_abs, m.ci_high_abs = _round(forecast * rel_low), _round(forecast * rel_high)
    if se > 0:
        m.prob_improvement = _round(float(stats.t.cdf(gain / se, df)), 4)
    band = np.asarray([q * np.sqrt(max(0.0, row @ cov @ row + sigma2)) for row in x_post])
    low, high = daily - band, daily + band
    daily, low, high = (np.exp(v) for v in (daily, low, high)) if log else (daily, low, high)
    m.chart.update({"kind": "forecast", "labels": [d.isoformat() for d, _ in post],
                    "actual": [_round(v, 4) for v in ys_post], "forecast": [_round(v, 4) for v in daily],
                    "low": [_round(v, 4) for v in low], "high": [_round(v, 4) for v in high],
                    "forecast_mean": _round(forecast), "actual_mean": _round(actual)})
    return _finish(m, mde=mde, direction=direction)


def detectable_effect(*, treated_n: int, control_n: int, baseline_rate: float, level: float = LEVEL,
                      power: float = 0.8) -> float | None:
    """The smallest relative lift of a rate the split can detect (normal approximation)."""
    import numpy as np  # noqa: PLC0415
    from scipy.stats import norm  # noqa: PLC0415

    if treated_n <= 0 or control_n <= 0 or not 0 < baseline_rate < 1:
        return None
    z = _z(level) + float(norm.ppf(power))
    se = np.sqrt(baseline_rate * (1 - baseline_rate) * (1 / treated_n + 1 / control_n))
    return round(float(z * se / baseline_rate), 4)
