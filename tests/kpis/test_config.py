"""Loading kpis.yml: all-or-nothing, errors with file/line/reason, defaults, change log, admin edits."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from autonomax.models import ConfigChange
from kpis.models import ExternalMetric, KPIDefinition
from kpis.services import KPIConfigError, kpis_load_config
from kpis.services.config import default_config_path

GOOD = """\
external_metrics:
  - name: analytics.sessions
    label: Sessions
kpis:
  - key: revenue
    label: Net revenue
    unit: USD
    metric: revenue.net
    direction: up
    target: 1000
    window: 7d
  - key: refunds
    label: Refund rate
    metric: refunds.rate
    direction: down
    target: 0.05
    window: 30
    freshness: 2h
  - key: sessions
    label: Sessions
    metric: analytics.sessions
    direction: up
    target: 400
    warning: 380
    critical: 300
    window: 1d
    freshness: 2d
"""


def write(tmp_path, text, name="kpis.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_playbook_loads(company):
    # when
    kpis = kpis_load_config(company=company, path=default_config_path())
    # then
    assert len(kpis) >= 10
    assert {k.metric for k in kpis} >= {"revenue.net", "refunds.rate", "support.first_response_p50_minutes"}


def test_load_applies_defaults_and_records_the_change_log(company, tmp_path):
    # when
    kpis_load_config(company=company, path=write(tmp_path, GOOD), reason="first load")
    # then `up` defaults to warning = target, critical = 80%; `down` mirrors at 120%
    revenue = KPIDefinition.objects.get(company=company, key="revenue")
    assert (revenue.warning_threshold, revenue.critical_threshold, revenue.window_days, revenue.freshness_minutes) == (
        Decimal("1000"), Decimal("800"), 7, 60)
    refunds = KPIDefinition.objects.get(company=company, key="refunds")
    assert (refunds.warning_threshold, refunds.critical_threshold, refunds.window_days, refunds.freshness_minutes) == (
        Decimal("0.05"), Decimal("0.06"), 30, 120)
    sessions = KPIDefinition.objects.get(company=company, key="sessions")
    assert (sessions.warning_threshold, sessions.critical_threshold, sessions.freshness_minutes) == (
        Decimal("380"), Decimal("300"), 2880)
    assert list(ExternalMetric.objects.filter(company=company).values_list("name", flat=True)) == [
        "analytics.sessions"]
    changes = ConfigChange.objects.filter(company=company, object_type="kpi")
    assert sorted(changes.values_list("object_id", flat=True)) == ["refunds", "revenue", "sessions"]
    assert all(c.reason == "first load" and c.actor_label == "load_kpis" for c in changes)


def test_reloading_the_same_file_changes_nothing(company, tmp_path):
    # given
    path = write(tmp_path, GOOD)
    kpis_load_config(company=company, path=path)
    # when
    kpis_load_config(company=company, path=path)
    # then
    assert ConfigChange.objects.filter(company=company).count() == 3


def test_a_kpi_removed_from_the_file_is_deactivated_with_its_history(company, tmp_path):
    # given
    kpis_load_config(company=company, path=write(tmp_path, GOOD))
    smaller = GOOD.split("  - key: refunds")[0]
    # when
    kpis_load_config(company=company, path=write(tmp_path, smaller, "smaller.yml"))
    # then
    assert not KPIDefinition.objects.get(company=company, key="refunds").is_active
    change = ConfigChange.objects.filter(object_id="refunds").first()
    assert change.changes == {"is_active": [True, False]}


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("kpis:\n  - key: a\n    label: [unclosed\n", 4, "invalid YAML"),
    (GOOD.replace("metric: revenue.net", "metric: revenue.netto"), 8, "unknown metric 'revenue.netto'"),
    (GOOD.replace("target: 1000", "target: lots"), 10, "target must be a number, not 'lots'"),
    (GOOD.replace("    warning: 380\n    critical: 300", "    warning: 380\n    critical: 390"), 25,
     "thresholds inverted: for direction `up` critical (390) must be at or below warning (380)"),
    (GOOD.replace("direction: down", "direction: sideways"), 15, "direction must be `up` or `down`"),
    (GOOD.replace("window: 7d", "window: 7x"), 11, "window must be whole days"),
    (GOOD.replace("key: refunds", "key: revenue"), 12, "duplicate key 'revenue' (first at line 5)"),
    (GOOD.replace("    unit: USD\n", "    unit: USD\n    colour: red\n"), 8, "unknown field 'colour'"),
    ("- just a list\n", 1, "expected a mapping with a `kpis:` list"),
])
def test_a_bad_file_is_rejected_whole_with_file_line_and_reason(company, tmp_path, text, line, reason):
    # given a loaded playbook
    kpis_load_config(company=company, path=write(tmp_path, GOOD))
    before = list(KPIDefinition.objects.filter(company=company).values())
    log_before = ConfigChange.objects.count()
    bad = write(tmp_path, text, "bad.yml")
    # when
    with pytest.raises(KPIConfigError) as caught:
        kpis_load_config(company=company, path=bad)
    # then the problem names the file, the line and the reason
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (str(bad), line)
    assert reason in problem.reason
    assert f"{bad}:{line}: " in caught.value.message
    # and nothing changed
    assert list(KPIDefinition.objects.filter(company=company).values()) == before
    assert ConfigChange.objects.count() == log_before


def test_every_problem_of_a_file_is_reported(company, tmp_path):
    # given two broken KPIs among good ones
    text = GOOD.replace("target: 1000", "target: lots").replace("direction: down", "direction: sideways")
    # when
    with pytest.raises(KPIConfigError) as caught:
        kpis_load_config(company=company, path=write(tmp_path, text))
    # then
    assert [p.line for p in caught.value.problems] == [10, 15]
    assert KPIDefinition.objects.count() == 0


def test_load_kpis_command_loads_and_reports_errors(company, tmp_path, capsys):
    # when
    call_command("load_kpis", str(write(tmp_path, GOOD)), company=company.slug)
    # then
    assert KPIDefinition.objects.filter(company=company, is_active=True).count() == 3
    with pytest.raises(CommandError, match=r"bad.yml:10: target must be a number"):
        call_command("load_kpis", str(write(tmp_path, GOOD.replace("target: 1000", "target: x"), "bad.yml")),
                     company=company.slug)
    with pytest.raises(CommandError, match="unknown company"):
        call_command("load_kpis", company="nope")


def test_admin_edit_goes_through_the_service_and_the_change_log(company, client, tmp_path):
    # given a superuser and a loaded KPI
    from tests.factories import UserFactory

    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    kpis_load_config(company=company, path=write(tmp_path, GOOD))
    kpi = KPIDefinition.objects.get(company=company, key="revenue")
    form = {"company": company.pk, "key": "revenue", "label": "Net revenue", "unit": "USD", "metric": "revenue.net",
            "direction": "up", "target": "1200", "warning_threshold": "1200", "critical_threshold": "900",
            "window_days": 7, "freshness_minutes": 60, "is_active": "on"}
    # when an inverted edit is posted, then it is refused
    response = client.post(f"/admin/kpis/kpidefinition/{kpi.pk}/change/", {**form, "critical_threshold": "1300"})
    assert response.status_code == 200 and b"critical threshold must be at or below" in response.content
    # when a valid edit is posted
    response = client.post(f"/admin/kpis/kpidefinition/{kpi.pk}/change/", form)
    # then it is saved with a change-log entry naming the person
    assert response.status_code == 302
    kpi.refresh_from_db()
    assert kpi.target == Decimal("1200")
    change = ConfigChange.objects.filter(object_id="revenue").first()
    assert change.actor == admin_user and change.changes["target"] == ["1000.0000", "1200"]
