from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"

    def ready(self) -> None:
        from django.conf import settings

        # SLA warnings and breaches are recorded within a minute of happening.
        settings.CELERY_BEAT_SCHEDULE["support-sla-sweep"] = {
            "task": "support.tasks.sla_sweep_task",
            "schedule": 60.0,
        }
