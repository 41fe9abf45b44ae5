from django.apps import AppConfig


class AIConfig(AppConfig):
    name = "chimera.ai"
    label = "chimera_ai"
    verbose_name = "Chimera AI engine"

    def ready(self):
        from . import checks  # noqa: F401 - registers the models.yml system check
