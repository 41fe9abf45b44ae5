import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from autonomax.models import ConfigChange
from chimera.commander.models import Agent, Play
from chimera.commander.services.playbook import PlaybookError, play_update, playbook_export, playbook_load
from tests.factories import CompanyFactory, UserFactory

from .factories import load_playbook

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def config_dir(tmp_path):
    for name in ("kpis.yml", "agents.yml", "plays.yml"):
        shutil.copy(CONFIGS / name, tmp_path / name)
    return tmp_path


def test_starter_playbook_has_real_plays_commanders_and_bots(company):
    # when
    plays = load_playbook(company)

    # then
    assert len(plays) >= 8
    commanders = set(Agent.objects.filter(company=company, kind="commander").values_list("key", flat=True))
    bots = set(Agent.objects.filter(company=company, kind="bot").values_list("key", flat=True))
    assert commanders == {"commerce", "product", "growth", "infrastructure", "evidence"}
    assert {"copy_bot", "shopify_bot", "email_bot", "pricing_bot", "support_bot"} <= bots
    bundle = plays["bundle-offer"]
    assert bundle.trigger == [{"kpi": "aov-30d", "status": ["warning", "critical"]}]
    assert [s["bot"] for s in bundle.job_plan] == ["pricing_bot", "shopify_bot"]
    assert bundle.job_plan[0]["queue"] == "default" and plays["rewrite-listing-copy"].job_plan[0]["queue"] == "ai"
    assert ConfigChange.objects.filter(company=company, object_type="play").count() == len(plays)


def test_loading_again_changes_nothing(company):
    # given
    load_playbook(company)
    changes = ConfigChange.objects.count()

    # when
    counts = playbook_load(companies=[company])

    # then
    assert counts["created"] == 0 and counts["updated"] == 0
    assert ConfigChange.objects.count() == changes
    assert set(Play.objects.filter(company=company).values_list("version", flat=True)) == {1}


def test_a_bad_file_is_rejected_with_file_line_and_reason_and_nothing_changes(company, config_dir):
    # given a loaded playbook, then a file with an unknown bot on line N and a wrong impact
    load_playbook(company)
    before = list(Play.objects.filter(company=company).values("key", "version", "impact"))
    text = (config_dir / "plays.yml").read_text()
    lines = text.splitlines()
    bot_line = next(i for i, line in enumerate(lines) if "bot: pricing_bot" in line) + 1
    text = text.replace("bot: pricing_bot", "bot: pricing_robot", 1).replace("impact: 0.7", "impact: 7", 1)
    (config_dir / "plays.yml").write_text(text)

    # when
    with pytest.raises(CommandError) as excinfo:
        call_command("load_playbook", str(config_dir), company=company.slug)

    # then
    message = str(excinfo.value)
    assert f"plays.yml:{bot_line}: unknown bot 'pricing_robot'" in message
    assert "impact must be between 0 and 1, got 7" in message
    assert list(Play.objects.filter(company=company).values("key", "version", "impact")) == before


def test_invalid_yaml_names_the_line(db, config_dir):
    # given
    (config_dir / "agents.yml").write_text("commanders:\n  - id: x\n   label: [unclosed\n")

    # when
    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[], directory=config_dir)

    # then
    assert excinfo.value.errors[0].startswith(f"{config_dir / 'agents.yml'}:3: not valid YAML")


def test_all_or_nothing_across_companies(db, config_dir):
    # given two companies and a file that is valid YAML but has an unknown owner
    first, second = CompanyFactory(), CompanyFactory()
    text = (config_dir / "plays.yml").read_text().replace("owner: growth", "owner: marketing", 1)
    (config_dir / "plays.yml").write_text(text)

    # when
    with pytest.raises(PlaybookError):
        playbook_load(companies=[first, second], directory=config_dir)

    # then
    assert not Play.objects.exists() and not Agent.objects.exists()


def test_changed_file_bumps_the_version_and_logs_it(company, config_dir):
    # given
    load_playbook(company)
    text = (config_dir / "plays.yml").read_text().replace("measure_after_hours: 72", "measure_after_hours: 96", 1)
    (config_dir / "plays.yml").write_text(text)

    # when
    counts = playbook_load(companies=[company], directory=config_dir, reason="measure later")

    # then
    assert counts["updated"] == 1
    play = Play.objects.get(company=company, version=2)
    change = ConfigChange.objects.filter(object_type="play", object_id=play.key).first()
    assert change.changes["measure_after_hours"] == [72, 96]
    assert change.reason == "measure later" and change.expected_effect


def test_admin_edit_service_records_who_why_and_expected_effect(company):
    # given
    play = load_playbook(company)["bundle-offer"]
    user = UserFactory()

    # when
    updated = play_update(play=play, actor=user, reason="bigger discount", expected_effect="AOV +8%",
                          impact=play.impact, effort="0.400")

    # then
    assert updated.version == 2
    change = ConfigChange.objects.filter(object_type="play", object_id="bundle-offer", actor=user).get()
    assert change.reason == "bigger discount" and change.expected_effect == "AOV +8%"
    assert change.changes["effort"] == ["0.300", "0.400"] and change.changes["version"] == [1, 2]


def test_an_edit_without_a_reason_is_refused(company):
    play = load_playbook(company)["bundle-offer"]

    with pytest.raises(Exception, match="why"):
        play_update(play=play, actor=UserFactory(), reason=" ", expected_effect="", effort="0.5")

    play.refresh_from_db()
    assert play.version == 1


def test_export_loads_back_to_the_same_playbook(company, tmp_path):
    # given a company whose play was edited in the admin
    play = load_playbook(company)["faq-macros"]
    play_update(play=play, actor=None, reason="r", expected_effect="e", measure_after_hours=48)
    (tmp_path / "export").mkdir()

    # when exported and loaded into a new company
    call_command("export_playbook", str(tmp_path / "export"), company=company.slug)
    other = CompanyFactory()
    playbook_load(companies=[other], directory=tmp_path / "export")

    # then the plays are the same
    fields = ["key", "label", "trigger", "job_plan", "kpis", "impact", "effort", "measure_after_hours",
              "prior_alpha", "prior_beta", "success_criterion", "level", "autonomy", "owner"]
    assert (list(Play.objects.filter(company=other).values(*fields))
            == list(Play.objects.filter(company=company).values(*fields)))
    assert "measure_after_hours: 48" in playbook_export(company=other)["plays.yml"]


def test_admin_edit_goes_through_the_service(company, client):
    # given a superuser editing a play in the admin
    play = load_playbook(company)["faq-macros"]
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    url = f"/admin/commander/play/{play.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(measure_after_hours=24, change_reason="faster feedback", expected_effect="first response known sooner")

    # when
    response = client.post(url, data)

    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    play.refresh_from_db()
    assert play.measure_after_hours == 24 and play.version == 2
    change = ConfigChange.objects.get(object_type="play", object_id="faq-macros", actor=user)
    assert change.changes["measure_after_hours"] == [72, 24] and change.reason == "faster feedback"
    assert change.expected_effect == "first response known sooner"


def test_a_bad_measure_names_its_line(db, config_dir):
    # given a play measured by an unknown method, with a holdout share above 50% and an unknown field
    text = (config_dir / "plays.yml").read_text()
    line = next(i for i, row in enumerate(text.splitlines()) if "measure: {method: holdout" in row) + 1
    text = text.replace("measure: {method: holdout, holdout_pct: 20,",
                        "measure: {method: poll, holdout_pct: 80, foo: 1,", 1)
    (config_dir / "plays.yml").write_text(text)

    # when
    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[], directory=config_dir)

    # then
    errors = "\n".join(excinfo.value.errors)
    assert f"plays.yml:{line}: measure.method must be one of ['counterfactual', 'experiment', 'holdout']" in errors
    assert "measure.holdout_pct must be between 1 and 50, got 80" in errors and "unknown measure field 'foo'" in errors


def test_the_measure_is_loaded_and_exported(db, config_dir):
    company = CompanyFactory()
    playbook_load(companies=[company], directory=config_dir)
    play = Play.objects.get(company=company, key="win-back-email")

    assert play.measure["method"] == "holdout" and play.measure["holdout_pct"] == 20
    assert "measure: {method: holdout" not in playbook_export(company=company)["plays.yml"]  # block style
    assert "method: holdout" in playbook_export(company=company)["plays.yml"]


def _line_of(path, needle: str, after: str = "") -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_strategic_play_on_autopilot_is_refused_with_file_line_and_reason(company, config_dir):
    # given the strategic price test switched to autonomy: auto
    load_playbook(company)
    path = config_dir / "plays.yml"
    text = path.read_text()
    start = text.index("key: price-test-best-seller")
    text = text[:start] + text[start:].replace("autonomy: suggest", "autonomy: auto", 1)
    path.write_text(text)
    line = _line_of(path, "autonomy: auto", after="key: price-test-best-seller")

    # when
    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[company], directory=config_dir)

    # then
    [error] = excinfo.value.errors
    assert error.startswith(f"{path}:{line}: play 'price-test-best-seller' is strategic: only operational plays")
    assert Play.objects.get(company=company, key="price-test-best-seller").autonomy == "suggest"


def test_a_misspelt_kpi_in_a_play_is_refused_wherever_it_is_named(company, config_dir):
    # given typos in a trigger, a kpis list and a success criterion
    path = config_dir / "plays.yml"
    text = path.read_text()
    text = text.replace("{kpi: aov-30d, status:", "{kpi: aov-30days, status:", 1)
    text = text.replace("kpis: [repeat-customers-30d]", "kpis: [repeat-customer-30d]", 1)
    text = text.replace("success: {kpi: first-response-p50,", "success: {kpi: first-respons-p50,", 1)
    path.write_text(text)

    # when
    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[company], directory=config_dir)

    # then each one is named with its line, and nothing was loaded
    errors = excinfo.value.errors
    assert f"{path}:{_line_of(path, 'aov-30days')}: play 'bundle-offer' trigger names KPI 'aov-30days'" in errors[0]
    assert any(f":{_line_of(path, 'repeat-customer-30d')}: play 'win-back-email' kpis names KPI "
               f"'repeat-customer-30d', which kpis.yml does not define" in e for e in errors)
    assert any("play 'faq-macros' success names KPI 'first-respons-p50'" in e for e in errors)
    assert len(errors) == 3 and not Play.objects.exists()


def test_a_kpi_removed_from_kpis_yml_that_a_play_needs_is_refused(company, config_dir):
    path = config_dir / "kpis.yml"
    text = path.read_text()
    start = text.index("  - key: aov-30d")
    end = text.index("  - key:", start + 5)
    path.write_text(text[:start] + text[end:])

    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[company], directory=config_dir)

    assert any("names KPI 'aov-30d', which kpis.yml does not define" in e for e in excinfo.value.errors)


def test_a_bot_handling_a_job_type_no_code_runs_is_refused(company, config_dir):
    path = config_dir / "agents.yml"
    path.write_text(path.read_text().replace("handles: [faq_macros]", "handles: [faq_macros, tweet]", 1))

    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[company], directory=config_dir)

    line = _line_of(path, "tweet")
    assert any(e.startswith(f"{path}:{line}: bot 'support_bot' handles 'tweet', but no bot code runs")
               for e in excinfo.value.errors)


def test_kpis_yml_errors_reject_the_whole_playbook(company, config_dir):
    load_playbook(company)
    plays_before = ConfigChange.objects.count()
    path = config_dir / "kpis.yml"
    path.write_text(path.read_text().replace("direction: up", "direction: sideways", 1))
    text = (config_dir / "plays.yml").read_text().replace("measure_after_hours: 72", "measure_after_hours: 96", 1)
    (config_dir / "plays.yml").write_text(text)

    with pytest.raises(PlaybookError) as excinfo:
        playbook_load(companies=[company], directory=config_dir)

    assert any("kpis.yml" in e and "direction must be `up` or `down`" in e for e in excinfo.value.errors)
    assert ConfigChange.objects.count() == plays_before  # the valid plays.yml change was not applied either


def test_one_playbook_version_for_the_whole_set_with_who_and_why(company, config_dir):
    from chimera.commander.models import PlaybookVersion

    from .factories import propose

    # given the first load
    user = UserFactory()
    counts = playbook_load(companies=[company], directory=config_dir, actor=user, reason="first")
    assert counts["versions"] == {company.slug: 1}

    # when the same files load again: no new version
    assert playbook_load(companies=[company], directory=config_dir)["versions"] == {company.slug: 1}

    # when only kpis.yml changes: a new version of the whole set
    path = config_dir / "kpis.yml"
    path.write_text(path.read_text().replace("target: 35", "target: 36", 1))
    playbook_load(companies=[company], directory=config_dir, actor=user, reason="higher AOV target")

    # then
    first, second = PlaybookVersion.objects.filter(company=company).order_by("number")
    assert (first.number, first.reason, first.actor) == (1, "first", user)
    assert (second.number, second.reason) == (2, "higher AOV target")
    assert first.files["kpis.yml"] != second.files["kpis.yml"]
    assert first.files["plays.yml"] == second.files["plays.yml"] and set(first.files) == {"kpis.yml", "agents.yml",
                                                                                           "plays.yml"}
    # and a mission suggested now is pinned to version 2
    assert propose(company, "bundle-offer").playbook_version == second


def test_a_play_removed_from_the_file_stops_being_suggested_and_comes_back(company, config_dir):
    from .factories import kpi, kpis_with

    # given a loaded playbook, then plays.yml without the bundle offer
    load_playbook(company)
    path = config_dir / "plays.yml"
    original = path.read_text()
    start = original.index("  - key: bundle-offer")
    end = original.index("  - key:", start + 5)
    path.write_text(original[:start] + original[end:])

    # when
    counts = playbook_load(companies=[company], directory=config_dir, reason="drop bundles")

    # then it is disabled and not suggested even when its trigger holds
    from chimera.commander.services.missions import missions_suggest

    play = Play.objects.get(company=company, key="bundle-offer")
    assert counts["removed"] == 1 and play.status == Play.Status.DISABLED
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "15")})
    assert "bundle-offer" not in [m.play.key for m in missions_suggest(company=company, kpis=kpis)]

    # when it is back in the file, it is active again
    path.write_text(original)
    playbook_load(companies=[company], directory=config_dir)
    play.refresh_from_db()
    assert play.status == Play.Status.ACTIVE


def test_admin_edit_cannot_put_a_strategic_play_on_autopilot(company):
    plays = load_playbook(company)
    with pytest.raises(Exception, match="only operational plays run on autopilot"):
        play_update(play=plays["price-test-best-seller"], actor=UserFactory(), reason="faster",
                    expected_effect="", autonomy="auto")
    plays["price-test-best-seller"].refresh_from_db()
    assert plays["price-test-best-seller"].autonomy == "suggest"
