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
        # A new version of each company's intent model when people labelled tickets since the last one.
        settings.CELERY_BEAT_SCHEDULE["support-intent-models-train"] = {
            "task": "support.tasks.intent_models_train_task",
            "schedule": 24 * 3600.0,
        }
