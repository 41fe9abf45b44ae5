from django.apps import AppConfig


class CommanderConfig(AppConfig):
    name = "chimera.commander"
    label = "commander"
    verbose_name = "Chimera commander"

    def ready(self):
        from celery.schedules import crontab
        from django.conf import settings

        import chimera.tasks  # noqa: F401 - registers the tasks with the Celery app
        from autonomax.services import execution_resumed_register

        from .services.jobs import missions_resume

        execution_resumed_register(missions_resume)

        settings.CELERY_BEAT_SCHEDULE["commander-cycle"] = {
            "task": "chimera.tasks.run_commander_cycle", "schedule": 15 * 60.0}
        settings.CELERY_BEAT_SCHEDULE["commander-stuck-jobs"] = {
            "task": "chimera.tasks.jobs_mark_stuck", "schedule": 5 * 60.0}
        settings.CELERY_BEAT_SCHEDULE["commander-weekly-review"] = {
            "task": "chimera.tasks.weekly_review_email", "schedule": crontab(minute=0, hour=7, day_of_week="mon")}
