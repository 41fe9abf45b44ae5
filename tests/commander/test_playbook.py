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
    for name in ("agents.yml", "plays.yml"):
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
    assert f"plays.yml:{line}: measure.method must be one of ['counterfactual', 'holdout']" in errors
    assert "measure.holdout_pct must be between 1 and 50, got 80" in errors and "unknown measure field 'foo'" in errors


def test_the_measure_is_loaded_and_exported(db, config_dir):
    company = CompanyFactory()
    playbook_load(companies=[company], directory=config_dir)
    play = Play.objects.get(company=company, key="win-back-email")

    assert play.measure["method"] == "holdout" and play.measure["holdout_pct"] == 20
    assert "measure: {method: holdout" not in playbook_export(company=company)["plays.yml"]  # block style
    assert "method: holdout" in playbook_export(company=company)["plays.yml"]
