"""The play policy: what each play's evidence says (a posterior over its effect) and which play to run.

Each play's effect θ (relative, in its KPI's good direction: +0.1 = 10% better) has a normal posterior:

- prior: the playbook's belief, mean (2·p − 1)·mde with p = alpha / (alpha + beta) and sd max(2·mde, 5%).
  It is not shrunk towards the company's other plays: their effects are on other KPIs (order value, repeat
  rate, response time), and one imprecise loss on one of them moved every narrow prior into "harm";
- evidence: each measured record (not unmeasured, not confounded) adds its effect with precision
  1 / se², se from its 90% interval, discounted by age (half-life `HALF_LIFE_DAYS`) so a play that
  stops working is noticed.

Policies (the simulator runs each through the same cycle; `policy_use` selects one, default the
`COMMANDER_POLICY` setting): `learn` — Thompson sampling: one draw of θ per play, the best draw × the
play's impact is chosen, with an exploration floor so every candidate keeps at least
`EXPLORATION / K`; `static` — the playbook prior only; `random` — uniform; `oracle` — the true effects
the caller passes; `none` — no play is suggested at all. The probability the chosen play had of being
chosen (its propensity) is stored with every mission, so another policy can be evaluated offline
(`policy_offline_estimate`, inverse-propensity weighting).

A play goes `under_review` (stops triggering) when its probability of harm P(θ < 0) exceeds
`HARM_THRESHOLD`, or after `NO_EFFECT_RUNS` `no_effect` verdicts in a row — never on inconclusive alone.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from autonomax.models import Company

from ..models import EvidenceRecord, Mission, Play

if TYPE_CHECKING:
    import numpy as np  # loaded by the functions that compute, not at start-up

POLICIES = ("learn", "static", "none", "random", "oracle")
HALF_LIFE_DAYS = 90
EXPLORATION = 0.10
HARM_THRESHOLD = 0.8
NO_EFFECT_RUNS = 2
PROPENSITY_DRAWS = 4000
Z90 = 1.6448536269514722

_override: contextvars.ContextVar = contextvars.ContextVar("commander_policy", default=None)


@contextmanager
def policy_use(name: str, *, oracle: dict | None = None, seed: int | None = None):
    """Run the enclosed cycles under policy `name` (`oracle`: {play key: true effect} for the oracle)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy '{name}' (one of {', '.join(POLICIES)})")
    token = _override.set({"name": name, "oracle": oracle or {}, "seed": seed})
    try:
        yield
    finally:
        _override.reset(token)


def policy_current() -> dict:
    return _override.get() or {"name": getattr(settings, "COMMANDER_POLICY", "learn"), "oracle": {}, "seed": None}


@dataclass
class Posterior:
    play_id: int
    key: str
    prior_mean: float
    prior_sd: float
    mean: float
    sd: float
    runs: int = 0  # measured runs that carry an estimate
    wins: int = 0
    losses: int = 0
    no_effects: int = 0
    inconclusive: int = 0
    verdicts: list = field(default_factory=list)  # newest first
    money: float | None = None  # mean absolute effect, when the KPI is money
    last: EvidenceRecord | None = None

    @property
    def prob_positive(self) -> float:
        return 0.5 * (1 + math.erf(self.mean / (self.sd * math.sqrt(2)))) if self.sd > 0 else float(self.mean > 0)

    @property
    def prob_harm(self) -> float:
        return 1 - self.prob_positive

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - Z90 * self.sd, self.mean + Z90 * self.sd

    def sentence(self) -> str:
        if not self.runs:
            unmeasured = f" ({self.inconclusive} unmeasured or confounded run(s))" if self.inconclusive else ""
            return f"no measured evidence yet{unmeasured}; prior {self.prior_mean * 100:+.1f}%"
        low, high = self.interval
        last = self.last
        against = ""
        if last is not None and last.method == EvidenceRecord.Method.HOLDOUT and last.control_n:
            share = round(100 * last.control_n / max(1, last.control_n + (last.treated_n or 0)))
            against = f" against a {share}% holdout"
        elif last is not None and last.method == EvidenceRecord.Method.COUNTERFACTUAL:
            against = " against a forecast"
        return (f"ran {self.runs} time{'s' if self.runs != 1 else ''}, measured {self.mean * 100:+.1f}% "
                f"{last.kpi if last else ''} (90% interval {low * 100:+.1f}% to {high * 100:+.1f}%){against}")


def _mde(play: Play) -> float:
    return max(0.01, float((play.success_criterion or {}).get("min_change_pct", 5)) / 100)


def play_prior(play: Play) -> tuple[float, float]:
    a, b = float(play.prior_alpha), float(play.prior_beta)
    p = a / (a + b) if a + b > 0 else 0.5
    mde = _mde(play)
    return (2 * p - 1) * mde, max(2 * mde, 0.05)


def _good(record: EvidenceRecord) -> tuple[float, float] | None:
    """(effect, se) in the good direction, or None when the record carries no estimate."""
    if (record.method == EvidenceRecord.Method.UNMEASURED or record.confounded_with or record.effect_rel is None
            or record.ci_low is None or record.ci_high is None):
        return None
    sign = 1.0 if record.direction != "down" else -1.0
    se = max(1e-3, (record.ci_high - record.ci_low) / (2 * Z90))
    return max(-1.0, min(3.0, sign * record.effect_rel)), se


def play_posteriors(*, company: Company, plays, now=None) -> dict[int, Posterior]:
    """play id -> Posterior, from the company's evidence (one query)."""
    now = now or timezone.now()
    plays = list(plays)
    records = list(EvidenceRecord.objects.filter(company=company).order_by("-recorded_at", "-pk"))
    by_play: dict[int, list] = {}
    for r in records:
        by_play.setdefault(r.play_id, []).append(r)
    result = {}
    for play in plays:
        mean0, sd0 = play_prior(play)
        precision, weighted = 1 / sd0**2, mean0 / sd0**2
        post = Posterior(play_id=play.pk, key=play.key, prior_mean=mean0, prior_sd=sd0, mean=mean0, sd=sd0)
        money = []
        for r in by_play.get(play.pk, []):
            post.verdicts.append(r.verdict)
            estimate = _good(r)
            if estimate is None:
                post.inconclusive += 1
                continue
            effect, se = estimate
            age = max(0.0, (now - r.recorded_at).total_seconds() / 86400)
            weight = 0.5 ** (age / HALF_LIFE_DAYS)
            precision += weight / se**2
            weighted += weight * effect / se**2
            post.runs += 1
            post.last = post.last or r
            post.wins += r.verdict == EvidenceRecord.Verdict.WIN
            post.losses += r.verdict == EvidenceRecord.Verdict.LOSS
            post.no_effects += r.verdict == EvidenceRecord.Verdict.NO_EFFECT
            post.inconclusive += r.verdict == EvidenceRecord.Verdict.INCONCLUSIVE
            if r.method == EvidenceRecord.Method.COUNTERFACTUAL and r.effect is not None:
                money.append(r.effect if r.direction != "down" else -r.effect)
        post.mean, post.sd = weighted / precision, 1 / math.sqrt(precision)
        post.money = sum(money) / len(money) if money else None
        result[play.pk] = post
    return result


def play_review_reason(post: Posterior) -> str:
    """Why the play should stop, or '' — harm, or repeated no effect; never inconclusive alone."""
    if post.runs and post.prob_harm > HARM_THRESHOLD:
        return (f"probability of harm {post.prob_harm:.0%} (above {HARM_THRESHOLD:.0%}): {post.sentence()}")
    measured = [v for v in post.verdicts if v != EvidenceRecord.Verdict.INCONCLUSIVE]
    if len(measured) >= NO_EFFECT_RUNS and all(v == EvidenceRecord.Verdict.NO_EFFECT
                                               for v in measured[:NO_EFFECT_RUNS]):
        return f"{NO_EFFECT_RUNS} measured runs in a row with no effect worth having: {post.sentence()}"
    return ""


def plays_review(*, company: Company, plays, now=None) -> list[Play]:
    """After new evidence: plays whose posterior shows harm, or that repeatedly do nothing, go under review."""
    from .missions import play_set_under_review  # noqa: PLC0415

    posteriors = play_posteriors(company=company, plays=plays, now=now)
    stopped = []
    for play in plays:
        reason = play_review_reason(posteriors[play.pk])
        if reason and play.status == Play.Status.ACTIVE:
            stopped.append(play_set_under_review(play=play, reason=reason))
    return stopped


# --- Choosing -----------------------------------------------------------------------------------------------------

def _rng(*, company: Company, now, seed) -> np.random.Generator:
    import numpy as np  # noqa: PLC0415

    # A seeded policy (a simulation, a replay) draws the same whatever the company's id; otherwise per company.
    text = f"{company.pk}:{now.isoformat()}:" if seed is None else f"seed:{seed}:{now.isoformat()}"
    return np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:16], 16))


def policy_rank(*, company: Company, missions: list[Mission], posteriors: dict[int, Posterior], now=None
                ) -> list[Mission]:
    """Order this cycle's candidate missions under the current policy; set policy, rank, propensity.

    Returns them best first; an empty list under the `none` policy.
    """
    import numpy as np  # noqa: PLC0415

    current = policy_current()
    name = current["name"]
    if name == "none" or not missions:
        return []
    now = now or timezone.now()
    # A play that acts on people with nobody in its audience can only end no_op: it ranks after every play that
    # can act, with no chance of being chosen while one can (it would hold the top slot and do nothing).
    nobody = [(m.measure_plan or {}).get("audience") == 0 for m in missions]
    if any(nobody) and not all(nobody):
        idle = [m for m, empty in zip(missions, nobody, strict=True) if empty]
        able = [m for m, empty in zip(missions, nobody, strict=True) if not empty]
        ranked = policy_rank(company=company, missions=able, posteriors=posteriors, now=now)
        for rank, mission in enumerate(idle, start=len(ranked) + 1):
            mission.policy, mission.policy_rank, mission.propensity = name, rank, Decimal("0")
            mission.policy_info = {**ranked[0].policy_info, "value": None, "idle": "nobody to act on"}
        return ranked + idle
    rng = _rng(company=company, now=now, seed=current["seed"])
    k = len(missions)
    impact = np.asarray([max(0.05, float(m.play.impact)) for m in missions])
    prior = np.asarray([play_prior(m.play)[0] for m in missions])
    static_choice = int(np.argmax(prior * impact))
    if name == "learn":
        means = np.asarray([posteriors[m.play_id].mean for m in missions])
        sds = np.asarray([posteriors[m.play_id].sd for m in missions])
        draws = rng.normal(means, sds, size=(PROPENSITY_DRAWS, k)) * impact
        wins = np.bincount(np.argmax(draws, axis=1), minlength=k) / PROPENSITY_DRAWS
        propensity = (1 - EXPLORATION) * wins + EXPLORATION / k
        chosen = int(rng.choice(k, p=propensity / propensity.sum()))
        # The rest follow one Thompson draw each.
        value = rng.normal(means, sds) * impact
    elif name == "random":
        propensity = np.full(k, 1 / k)
        chosen = int(rng.integers(k))
        value = rng.random(k)
    else:
        if name == "oracle":
            value = np.asarray([float(current["oracle"].get(m.play.key, 0.0)) for m in missions])
        else:  # static
            value = prior * impact
        chosen = int(np.argmax(value))
        propensity = np.zeros(k)
        propensity[chosen] = 1.0
    order = [chosen] + [i for i in np.argsort(-value, kind="stable") if i != chosen]
    candidates = {m.play.key: round(float(p), 4) for m, p in zip(missions, propensity, strict=True)}
    ranked = []
    for rank, i in enumerate(order, start=1):
        mission = missions[i]
        mission.policy = name
        mission.policy_rank = rank
        mission.propensity = Decimal(str(round(float(propensity[i]), 4)))
        mission.policy_info = {"candidates": candidates, "chosen": missions[chosen].play.key,
                               "static_choice": missions[static_choice].play.key,
                               "value": round(float(value[i]), 6)}
        ranked.append(mission)
    return ranked


def missions_proposed_ranked(*, company: Company) -> list[Mission]:
    """The company's proposed missions in the policy's order (rank 1 of each cycle first, then score): what
    an approver, a person or the simulator's `learn` policy, should take from the top."""
    return list(Mission.objects.filter(company=company, status=Mission.Status.PROPOSED).select_related("play")
                .order_by("policy_rank", "-score", "pk"))


def policy_offline_estimate(*, company: Company, end=None, target: str = "static") -> dict:
    """Inverse-propensity estimate of the mean measured effect per decision had `target` always chosen.

    Decisions are the measured missions the policy ranked first; the reward is the measured effect in the
    KPI's good direction (relative), weighted by 1 / propensity when the target would have chosen the same.
    """
    end = end or timezone.now()
    rows = (EvidenceRecord.objects.filter(company=company, recorded_at__lt=end, mission__policy_rank=1,
                                          mission__propensity__gt=0)
            .exclude(method=EvidenceRecord.Method.UNMEASURED)
            .values("effect_rel", "direction", "mission__propensity", "mission__policy_info", "play__key"))
    n = matched = 0
    actual = ips = 0.0
    for row in rows:
        if row["effect_rel"] is None:
            continue
        reward = row["effect_rel"] * (1 if row["direction"] != "down" else -1)
        n += 1
        actual += reward
        info = row["mission__policy_info"] or {}
        if info.get(f"{target}_choice") == row["play__key"]:
            matched += 1
            ips += reward / float(row["mission__propensity"])
    return {"target": target, "decisions": n, "matched": matched,
            "actual_mean": None if not n else round(actual / n, 4),
            "estimate_mean": None if not n else round(ips / n, 4)}
