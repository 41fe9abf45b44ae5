from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "commerce"

    def ready(self) -> None:
        from celery.schedules import crontab
        from django.conf import settings

        # Webhook delivery is not guaranteed: every night, fill in what they missed.
        settings.CELERY_BEAT_SCHEDULE["commerce-reconcile-nightly"] = {
            "task": "commerce.tasks.reconcile_nightly_task",
            "schedule": crontab(hour=3, minute=17),
        }
        # Work a crashed worker lost (events left `received`, download emails never sent): found and re-sent.
        settings.CELERY_BEAT_SCHEDULE["commerce-recovery-sweep"] = {
            "task": "commerce.tasks.recovery_sweep_task", "schedule": 2 * 60.0}
