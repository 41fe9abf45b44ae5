from django.apps import AppConfig


class GrowthConfig(AppConfig):
    name = "growth"

    def ready(self) -> None:
        from celery.schedules import crontab
        from django.conf import settings

        from autonomax.services import event_subscribe
        from commerce.streams import stream_input_register

        from .events import order_paid_handle
        from .selectors import handoff_stream_input

        # A lead whose email buys is converted (purchase event, converted_at) as soon as the order is paid.
        event_subscribe("order.paid", order_paid_handle)
        # Hot leads handed off to a person are the consulting stream's input (and its person's step).
        stream_input_register("consulting", handoff_stream_input)
        settings.CELERY_BEAT_SCHEDULE["growth-leads-daily"] = {
            "task": "growth.tasks.leads_daily_task", "schedule": crontab(hour=3, minute=41)}
        settings.CELERY_BEAT_SCHEDULE["growth-sequences-dispatch"] = {
            "task": "growth.tasks.email_sequences_dispatch_task", "schedule": 60.0}
        settings.CELERY_BEAT_SCHEDULE["growth-campaigns-due"] = {
            "task": "growth.tasks.campaigns_due_task", "schedule": 60.0}
        settings.CELERY_BEAT_SCHEDULE["growth-sequences-enrol"] = {
            "task": "growth.tasks.sequences_enrol_segments_task", "schedule": 15 * 60.0}
