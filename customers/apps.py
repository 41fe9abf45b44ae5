from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customer intelligence"

    def ready(self) -> None:
        from celery.schedules import crontab
        from django.conf import settings

        from autonomax.services import event_subscribe

        from .tasks import profiles_refresh_on_order

        # Segments follow each order and refund; the nightly run refits churn and lifetime value.
        event_subscribe("order.paid", profiles_refresh_on_order)
        event_subscribe("refund.issued", profiles_refresh_on_order)
        settings.CELERY_BEAT_SCHEDULE["customers-nightly"] = {
            "task": "customers.tasks.customers_nightly_task",
            "schedule": crontab(hour=2, minute=41),
        }
