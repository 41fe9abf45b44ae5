"""Helpers for the commander tests: the real playbook, KPI rows as kpi_current returns them, missions."""

from decimal import Decimal

from chimera.commander.models import Mission, Play
from chimera.commander.services.missions import missions_suggest
from chimera.commander.services.playbook import playbook_load


def load_playbook(company) -> dict[str, Play]:
    playbook_load(companies=[company], actor_label="test")
    return {p.key: p for p in Play.objects.filter(company=company)}


def kpi(key: str, status: str = "OK", value="10", target="20", warning="16", critical="12", direction="up",
        unit="") -> dict:
    return {"key": key, "label": key.replace("-", " ").title(), "unit": unit, "metric": key, "direction": direction,
            "status": status, "value": None if value is None else Decimal(str(value)), "target": Decimal(target),
            "warning": Decimal(warning), "critical": Decimal(critical), "reason": "", "evaluated_at": None}


# Every KPI key the starter plays use, all on target.
ALL_OK = {
    key: kpi(key, direction=direction)
    for key, direction in [
        ("net-revenue-7d", "up"), ("gross-revenue-30d", "up"), ("orders-7d", "up"), ("aov-30d", "up"),
        ("refund-rate-30d", "down"), ("repeat-customers-30d", "up"), ("lead-conversion-30d", "up"),
        ("first-response-p50", "down"), ("ai-cost-to-revenue-30d", "down"),
    ]
}


def kpis_with(**changes) -> dict:
    """ALL_OK with some KPIs replaced: kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "18")})."""
    return {**ALL_OK, **changes}


def propose(company, play_key: str, kpis: dict | None = None) -> Mission:
    """A proposed mission for one play, through the real suggestion service."""
    trigger_kpi = {
        "rewrite-listing-copy": "lead-conversion-30d", "bundle-offer": "aov-30d",
        "win-back-email": "repeat-customers-30d",
        "faq-macros": "first-response-p50", "ai-cost-routing": "ai-cost-to-revenue-30d",
        "pending-checkout-reminder": "orders-7d", "price-test-best-seller": "net-revenue-7d",
        "refund-copy-clarity": "refund-rate-30d", "nurture-warm-leads": "lead-conversion-30d",
    }[play_key]
    direction = ALL_OK[trigger_kpi]["direction"]
    status = "CRITICAL" if play_key == "nurture-warm-leads" else "WARNING"
    kpis = kpis or kpis_with(**{trigger_kpi: kpi(trigger_kpi, status, "15", direction=direction)})
    for mission in missions_suggest(company=company, kpis=kpis):
        if mission.play.key == play_key:
            return mission
    return Mission.objects.get(company=company, play__key=play_key, status=Mission.Status.PROPOSED)
