from pathlib import Path

import pytest
from django.conf import settings

from chimera.ai.config import TASK_TYPES, models_config, models_config_load, models_config_parse
from chimera.ai.errors import ModelsConfigError

ROUTES = "\n".join(f"  {task}: [offline]" for task in TASK_TYPES)


def _parse(text: str):
    return models_config_parse(text=text, file="models.yml")


def test_the_shipped_models_yml_loads():
    config = models_config_load(Path(settings.BASE_DIR) / "configs" / "models.yml")

    assert set(TASK_TYPES) <= set(config.routing)
    assert all(route[-1].provider == "offline" for route in config.routing.values())
    assert config.providers["openai"].api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize("text, line, reason", [
    ("providers: [\n  {name: a\n", 3, "not valid YAML"),
    (f"providers:\n  - name: a\n    base_url: ftp://x\n    models: [{{name: m, input_per_1k: 0, output_per_1k: 0}}]\n"
     f"routing:\n{ROUTES}\n", 3, "must start with http"),
    (f"providers:\n  - name: a\n    base_url: http://x\n    models:\n      - {{name: m, input_per_1k: cheap, "
     f"output_per_1k: 0}}\nrouting:\n{ROUTES}\n", 5, "a/m.input_per_1k must be a number"),
    (f"providers: []\nrouting:\n{ROUTES}\n  email: [nope]\n", 13, "duplicate key 'email'"),
    ("providers: []\nrouting:\n  email: [nope]\n", 3, "unknown provider 'nope'"),
    ("providers: []\nrouting:\n  email: [offline]\n", 3, "no route for task type 'content_generation'"),
    (f"providers: []\nrouting:\n{ROUTES}\npolicies:\n  safe_modes: [pii_redact, yolo]\n", 14, "unknown value 'yolo'"),
    (f"providers: []\nrouting:\n{ROUTES}\ndefaults:\n  max_tokens: -5\n", 14, "greater than 0"),
    (f"providers: []\nrouting:\n{ROUTES}\nsurprise: 1\n", 13, "unknown key 'surprise'"),
])
def test_a_bad_file_is_rejected_with_file_line_and_reason(text, line, reason):
    with pytest.raises(ModelsConfigError) as caught:
        _parse(text)

    assert caught.value.file == "models.yml" and caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"models.yml:{line}: ")


def test_the_env_variable_picks_the_file_and_a_bad_edit_keeps_the_last_good_one(tmp_path, settings):
    # given
    path = tmp_path / "models.yml"
    path.write_text(f"providers: []\nrouting:\n{ROUTES}\npolicies:\n  max_cost_usd_per_day: 2.5\n")
    settings.AUTONOMAX_MODELS_FILE = str(path)
    assert str(models_config().max_cost_usd_per_day) == "2.5"

    # when
    path.write_text("providers: [oops\n")

    # then
    assert str(models_config().max_cost_usd_per_day) == "2.5"
    with pytest.raises(ModelsConfigError):
        models_config_load(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ModelsConfigError, match="cannot read the file"):
        models_config_load(tmp_path / "absent.yml")


def test_system_check_reports_a_bad_file(tmp_path, settings):
    # given
    from chimera.ai.checks import models_config_check

    path = tmp_path / "broken.yml"
    path.write_text("providers: []\nrouting:\n  email: [ghost]\n")
    settings.AUTONOMAX_MODELS_FILE = str(path)

    # when
    errors = models_config_check(None)

    # then
    assert [e.id for e in errors] == ["chimera_ai.E001"]
    assert errors[0].msg == f"{path}:3: routing.email: unknown provider 'ghost'"
