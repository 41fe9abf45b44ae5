"""System check: a bad models.yml is reported at start-up with its file, line and reason."""

from django.core import checks

from .config import models_config
from .errors import ModelsConfigError


@checks.register()
def models_config_check(app_configs, **kwargs):
    try:
        models_config()
    except ModelsConfigError as exc:
        return [checks.Error(exc.message, hint="Fix the file or point AUTONOMAX_MODELS_FILE at a valid one.",
                             id="chimera_ai.E001")]
    return []
