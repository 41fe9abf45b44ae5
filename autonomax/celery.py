"""The Celery app: four queues keep slow work apart from fast work."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")

app = Celery("autonomax")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("webhooks", "ai", "email", "default")]
app.conf.task_routes = {
    "commerce.tasks.webhook_*": {"queue": "webhooks"},
    "chimera.ai.tasks.*": {"queue": "ai"},
    "*.tasks.email_*": {"queue": "email"},
}
app.autodiscover_tasks()


@app.task(name="autonomax.ping")
def ping() -> str:
    """Round trip used by /readyz-style checks and the integration test."""
    return "pong"
