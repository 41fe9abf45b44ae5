"""Who approves in a simulation: the person at the dashboard, played by a policy.

Each cycle the policy looks at the proposed missions, approves the ones it picks while it has a free
slot, and declines the rest (a person's "no": production's rejection cool-down applies). A slot is
held from approval until the mission's evidence is in, at most the company's `max_active_missions`,
so choosing matters. Approval goes through the real service (`mission_approve`, as the sandbox's
owner); the production limits, cool-downs and reviews all apply.

- learn: the platform's own ranking (the commander's policy rank: Thompson sampling over its evidence).
- static: the playbook's priors only (impact × prior success probability), never updated.
- none: approves nothing.
- random: a random proposal for each free slot.
- oracle: knows the hidden effects: the best plays that truly pay, never one that does not.
"""

from decimal import Decimal

import numpy as np
from django.utils import timezone

POLICIES = ("learn", "static", "none", "random", "oracle")
IN_FLIGHT = ("approved", "planned", "running", "measuring")


def _static_key(mission) -> Decimal:
    play = mission.play
    alpha, beta = Decimal(play.prior_alpha), Decimal(play.prior_beta)
    prior = alpha / (alpha + beta) if alpha + beta else Decimal(0)
    return Decimal(play.impact) * prior


def policy_rank(*, policy: str, proposed: list, values: dict[str, dict], rng: np.random.Generator,
                last_run: dict[str, int] | None = None) -> list:
    """The proposals this policy would approve, best first (it approves as many as it has slots).

    `last_run`: play key -> days since a mission of it was last approved (the oracle does not tire people).
    """
    if policy == "none":
        return []
    if policy == "learn":
        # The commander's own order (its policy's rank: Thompson sampling over the measured evidence), the way
        # `missions_proposed_ranked` shows it to a person.
        return sorted(proposed, key=lambda m: (m.policy_rank or 10**6, -m.score, m.pk))
    if policy == "static":
        return sorted(proposed, key=lambda m: (-_static_key(m), m.pk))
    if policy == "random":
        order = rng.permutation(len(proposed))
        return [proposed[i] for i in order]
    if policy == "oracle":
        last_run = last_run or {}

        def pays(m):
            truth = values.get(m.play.key) or {}
            rested = last_run.get(m.play.key, 10**6) >= truth.get("resend_after_days", 0)
            return truth.get("value", 0) > 0 and rested

        paying = [m for m in proposed if pays(m)]
        return sorted(paying, key=lambda m: (-values[m.play.key]["value"], m.pk))
    raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")


def policy_decide(*, policy: str, company, owner, values: dict[str, dict], rng: np.random.Generator) -> dict:
    """Approve the policy's picks while slots are free, decline the other proposals. Returns what it did."""
    from chimera.commander.models import Mission  # noqa: PLC0415
    from chimera.commander.services.missions import mission_approve, mission_reject  # noqa: PLC0415

    proposed = list(Mission.objects.filter(company=company, status=Mission.Status.PROPOSED)
                    .select_related("play").order_by("pk"))
    if not proposed:
        return {"approved": [], "declined": []}
    in_flight = Mission.objects.filter(company=company, status__in=IN_FLIGHT).count()
    free = max(0, company.max_active_missions - in_flight)
    last_run = {}
    if policy == "oracle":
        now = timezone.now()
        for key, at in (Mission.objects.filter(company=company, decided_at__isnull=False)
                        .exclude(status=Mission.Status.REJECTED).values_list("play__key", "decided_at")):
            last_run[key] = min(last_run.get(key, 10**6), (now - at).days)
    chosen = policy_rank(policy=policy, proposed=proposed, values=values, rng=rng, last_run=last_run)[:free]
    chosen_ids = {m.pk for m in chosen}
    for mission in chosen:
        mission_approve(mission=mission, actor=owner, reason=f"simulation: the {policy} policy picked it")
    declined = [m for m in proposed if m.pk not in chosen_ids]
    for mission in declined:
        mission_reject(mission=mission, actor=owner, reason=f"simulation: the {policy} policy did not pick it")
    return {"approved": [m.play.key for m in chosen], "declined": [m.play.key for m in declined]}
