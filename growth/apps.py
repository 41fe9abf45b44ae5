from django.apps import AppConfig


class GrowthConfig(AppConfig):
    name = "growth"

    def ready(self) -> None:
        from anymail.signals import tracking
        from celery.schedules import crontab
        from django.conf import settings

        from autonomax.services import event_subscribe
        from commerce.streams import stream_input_register

        from .deliverability import tracking_receive
        from .events import order_paid_handle
        from .selectors import handoff_stream_input

        # Bounces and complaints from the email provider's tracking webhook (django-anymail) suppress the address.
        tracking.connect(tracking_receive, dispatch_uid="growth.deliverability")

        # A lead whose email buys is converted (purchase event, converted_at) as soon as the order is paid.
        event_subscribe("order.paid", order_paid_handle)
        # Hot leads handed off to a person are the consulting stream's input (and its person's step).
        stream_input_register("consulting", handoff_stream_input)
        settings.CELERY_BEAT_SCHEDULE["growth-leads-daily"] = {
            "task": "growth.tasks.leads_daily_task", "schedule": crontab(hour=3, minute=41)}
        settings.CELERY_BEAT_SCHEDULE["growth-lead-model-nightly"] = {
            "task": "growth.tasks.lead_model_train_task", "schedule": crontab(hour=4, minute=17)}
        settings.CELERY_BEAT_SCHEDULE["growth-sequences-dispatch"] = {
            "task": "growth.tasks.email_sequences_dispatch_task", "schedule": 60.0}
        settings.CELERY_BEAT_SCHEDULE["growth-campaigns-due"] = {
            "task": "growth.tasks.campaigns_due_task", "schedule": 60.0}
        settings.CELERY_BEAT_SCHEDULE["growth-sequences-enrol"] = {
            "task": "growth.tasks.sequences_enrol_segments_task", "schedule": 15 * 60.0}
