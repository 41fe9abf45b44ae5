"""Scenario files: the shipped ones load against the real playbook; bad ones are refused whole with
file, line and reason."""

import pytest
import yaml
from django.conf import settings

from demo.scenario import ScenarioError, scenario_load, scenario_parse, scenario_path

PLAYS = {p["key"] for p in yaml.safe_load((settings.BASE_DIR / "configs" / "plays.yml").read_text())["plays"]}


@pytest.mark.parametrize("name", ["default", "seasonal-shock", "fatigue", "priors-wrong"])
def test_shipped_scenarios_load_against_the_playbook(name):
    scenario = scenario_load(path=scenario_path(name), known_plays=PLAYS)
    assert scenario.name == name and len(scenario.weekday_factors) == 7 and scenario.effects


def test_default_has_helping_neutral_and_harmful_plays():
    scenario = scenario_load(path=scenario_path("default"), known_plays=PLAYS)
    sizes = {key: [e.relative for e in effects] for key, effects in scenario.effects.items()}
    assert sizes["win-back-email"] == [0.6] and sizes["bundle-offer"] == [0.03, -0.2]
    assert "faq-macros" not in sizes  # a play without an entry has no effect


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(text=text, file="bad.yml", known_plays=PLAYS)
    assert refused.value.status == 400 and refused.value.code == "invalid_scenario"
    return [(p["line"], p["reason"]) for p in refused.value.details["problems"]]


def test_unknown_play_key_is_refused_with_its_line():
    problems = _problems("shop:\n  aov: 30\neffects:\n  win-back-emial: {metric: aov, relative: 0.1}\n")
    assert problems == [(4, problems[0][1])] and "unknown play 'win-back-emial'" in problems[0][1]


def test_malformed_fields_are_each_named():
    problems = _problems(
        "shop:\n"
        "  conversion_rate: 1.5\n"            # 2: a rate above 1
        "  visitors: 100\n"                   # 3: unknown field
        "  weekday_factors: [1, 1, 1]\n"      # 4: not 7 values
        "  shocks:\n"
        "    - {day: -1, metric: visitors_per_day, factor: 0.5}\n"  # 6: negative day
        "effects:\n"
        "  bundle-offer: {metric: margin, relative: 0.1}\n"         # 8: unknown metric
    )
    lines = [line for line, _ in problems]
    assert lines == [3, 2, 4, 6, 8]
    assert "conversion_rate must be between 0 and 1" in problems[1][1]


def test_invalid_yaml_and_missing_shop_are_refused():
    assert _problems("shop: [\n")[0][1].startswith("invalid YAML")
    assert _problems("effects: {}\n") == [(1, "expected a mapping with a `shop:` mapping")]
