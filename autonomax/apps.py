from django.apps import AppConfig


class AutonomaxConfig(AppConfig):
    name = "autonomax"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import privacy  # noqa: F401  (registers the system check that every e-mail model is covered)

        # Each app registers what it holds about a person from its own personal_data.py.
        autodiscover_modules("personal_data")
        # Each app declares the outside services a company connects at /settings/connections/.
        autodiscover_modules("connections")
