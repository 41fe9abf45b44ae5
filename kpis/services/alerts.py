"""Alerts: a KPI going into CRITICAL alerts once; coming back says so once; a new anomaly in a revenue
KPI's metric alerts once (anomalies_notice).

Each alert has one delivery row per channel (Slack incoming webhook from
SLACK_WEBHOOK_URL, email to the company's owners). Deliveries are sent by a
Celery task enqueued on commit and retried on transient errors; a delivery that
keeps failing is marked failed. Nothing here can crash the KPI cycle.
"""

import logging
import smtplib
from datetime import datetime

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from autonomax.models import Membership, Role
from kpis.models import Alert, AlertDelivery, KPIDefinition, KPIEvaluation, KPIStatus

from .evaluate import num

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RECOVERED = (KPIStatus.OK, KPIStatus.WARNING)


class DeliveryTransientError(Exception):
    """Worth retrying: network trouble, a timeout, a 429 or 5xx answer."""


class DeliveryRejectedError(Exception):
    """Retrying cannot help (e.g. the webhook URL answers 404)."""


def alert_message(*, kpi: KPIDefinition, evaluation: KPIEvaluation, kind: str) -> str:
    unit = f" {kpi.unit}" if kpi.unit else ""
    numbers = (f"{num(evaluation.value)}{unit} (target {num(evaluation.target)}, "
               f"warning {num(evaluation.warning_threshold)}, critical {num(evaluation.critical_threshold)}, "
               f"{evaluation.window_days}-day window)")
    if kind == Alert.Kind.TRIGGERED:
        return f"CRITICAL: {kpi.label} is {numbers}: {evaluation.reason}."
    return f"Resolved: {kpi.label} is back to {evaluation.status} at {numbers}."


def _owner_emails(*, company) -> list[str]:
    return sorted(
        email for email in Membership.objects.filter(company=company, role=Role.OWNER)
        .values_list("user__email", flat=True) if email
    )


def alerts_raise(*, company, kpis: list[KPIDefinition], evaluations: list[KPIEvaluation],
                 now: datetime) -> list[Alert]:
    """Open an alert for each KPI newly CRITICAL and resolve the open ones that recovered.

    Sets `kpi.alert_open` on the given instances (the caller saves them). UNKNOWN
    neither opens nor resolves: missing data says nothing about recovery.
    """
    alerts = []
    for kpi, evaluation in zip(kpis, evaluations, strict=True):
        if evaluation.status == KPIStatus.CRITICAL and not kpi.alert_open:
            kind, kpi.alert_open = Alert.Kind.TRIGGERED, True
        elif evaluation.status in RECOVERED and kpi.alert_open:
            kind, kpi.alert_open = Alert.Kind.RESOLVED, False
        else:
            continue
        alerts.append(Alert(company=company, kpi=kpi, evaluation=evaluation, kind=kind, created_at=now,
                            message=alert_message(kpi=kpi, evaluation=evaluation, kind=kind)))
    return alerts_send(company=company, alerts=alerts)


def anomaly_alerts_raise(*, company, anomalies: list[dict], kpis: dict[str, KPIDefinition], now: datetime
                         ) -> list[Alert]:
    """One alert per new anomaly of a revenue metric (`anomalies`: anomalies_new's rows, taken up now), tied
    to its first revenue KPI's latest evaluation; a KPI never evaluated has nothing to tie to and is skipped."""
    alerts = []
    for anomaly in anomalies:
        if not anomaly["revenue"]:
            continue
        kpi = next((kpis[k["key"]] for k in anomaly["kpis"] if kpis[k["key"]].last_evaluation_id), None)
        if kpi is None:
            continue
        alerts.append(Alert(company=company, kpi=kpi, evaluation_id=kpi.last_evaluation_id,
                            anomaly_id=anomaly["id"], kind=Alert.Kind.ANOMALY, created_at=now,
                            message=f"Anomaly: {anomaly['text']}."))
    return alerts_send(company=company, alerts=alerts)


def alerts_send(*, company, alerts: list[Alert]) -> list[Alert]:
    """Store the alerts and one delivery per channel (Slack when configured, email to the owners), sent by
    a task queued on commit and retried."""
    if not alerts:
        return []
    alerts = Alert.objects.bulk_create(alerts)
    recipients = _owner_emails(company=company)
    deliveries = []
    for alert in alerts:
        if settings.SLACK_WEBHOOK_URL:
            deliveries.append(AlertDelivery(alert=alert, channel=AlertDelivery.Channel.SLACK))
        if recipients:
            deliveries.append(AlertDelivery(alert=alert, channel=AlertDelivery.Channel.EMAIL, recipients=recipients))
    deliveries = AlertDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: _enqueue(pk), robust=True)
    return alerts


def _enqueue(delivery_id: int) -> None:
    from kpis.tasks import alert_delivery_send_task  # noqa: PLC0415 - tasks import services

    try:
        alert_delivery_send_task.delay(delivery_id)
    except Exception:  # noqa: BLE001 - a broker outage must not break the cycle; the row stays pending
        logger.exception("could not enqueue alert delivery %s", delivery_id)


def _send_slack(*, text: str) -> None:
    try:
        response = requests.post(settings.SLACK_WEBHOOK_URL, json={"text": text}, timeout=10)
    except requests.RequestException as exc:
        raise DeliveryTransientError(f"slack: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryTransientError(f"slack answered {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise DeliveryRejectedError(f"slack answered {response.status_code}: {response.text[:200]}")


def _send_email(*, alert: Alert, recipients: list[str]) -> None:
    headline = {Alert.Kind.TRIGGERED: "CRITICAL", Alert.Kind.ANOMALY: "Anomaly"}.get(alert.kind, "Resolved")
    subject = f"[{alert.company.name}] {headline}: {alert.kpi.label}"
    link = f"{settings.SITE_URL.rstrip('/')}/kpis/{alert.kpi.key}/"
    try:
        send_mail(subject, f"{alert.message}\n\n{link}\n", None, recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryTransientError(f"email: {exc}") from exc


def alert_delivery_send(*, delivery_id: int) -> AlertDelivery | None:
    """Send one pending delivery. Transient failures raise DeliveryTransientError (the task
    retries) until MAX_ATTEMPTS, then the row is marked failed. A repeat of a sent delivery is a no-op."""
    delivery = (AlertDelivery.objects.select_related("alert__kpi", "alert__company")
                .filter(pk=delivery_id, status=AlertDelivery.Status.PENDING).first())
    if delivery is None:
        return None
    attempts = delivery.attempts + 1
    try:
        if delivery.channel == AlertDelivery.Channel.SLACK:
            if not settings.SLACK_WEBHOOK_URL:
                raise DeliveryRejectedError("SLACK_WEBHOOK_URL is not set")
            _send_slack(text=delivery.alert.message)
        else:
            _send_email(alert=delivery.alert, recipients=delivery.recipients)
    except DeliveryTransientError as exc:
        final = attempts >= MAX_ATTEMPTS
        _delivery_update(delivery, attempts=attempts, last_error=str(exc),
                         status=AlertDelivery.Status.FAILED if final else AlertDelivery.Status.PENDING)
        if not final:
            raise
        logger.error("alert delivery %s failed after %s attempts: %s", delivery.pk, attempts, exc)
        return delivery
    except DeliveryRejectedError as exc:
        _delivery_update(delivery, attempts=attempts, last_error=str(exc), status=AlertDelivery.Status.FAILED)
        return delivery
    _delivery_update(delivery, attempts=attempts, last_error="", status=AlertDelivery.Status.SENT,
                     sent_at=timezone.now())
    return delivery


def _delivery_update(delivery: AlertDelivery, **fields) -> None:
    # Conditional on still pending: a concurrent duplicate run cannot overwrite a final state.
    AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDelivery.Status.PENDING).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
