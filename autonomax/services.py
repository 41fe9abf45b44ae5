"""Writes owned by the platform core: analytics events and the change log."""

from django.db import transaction
from django.utils import timezone

from .models import Company, ConfigChange, Event, EventName

# Apps react to analytics events without the emitter knowing them (growth converts a lead on
# `order.paid`): handlers registered by name run after the emitting transaction commits.
EVENT_SUBSCRIBERS: dict[str, list] = {}


def event_subscribe(name: str, handler) -> None:
    """Call `handler(event=Event)` after commit for every `name` event; a failing handler is logged, never
    raised into the emitter (robust on_commit)."""
    if name not in EventName.values:
        raise ValueError(f"unknown analytics event {name!r}")
    handlers = EVENT_SUBSCRIBERS.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def event_record(*, company: Company, name: str, payload: dict | None = None, correlation_id: str = "",
                 occurred_at=None) -> Event:
    """Record one analytics event (see EventName for the names the platform emits)."""
    if name not in EventName.values:
        raise ValueError(f"unknown analytics event {name!r}")
    event = Event.objects.create(
        company=company,
        name=name,
        payload=payload or {},
        correlation_id=str(correlation_id or ""),
        occurred_at=occurred_at or timezone.now(),
    )
    for handler in EVENT_SUBSCRIBERS.get(name, ()):
        transaction.on_commit(lambda h=handler: h(event=event), robust=True)
    return event


def config_change_record(*, company: Company | None, actor=None, actor_label: str = "", object_type: str,
                         object_id: str = "", changes: dict | None = None, reason: str = "",
                         expected_effect: str = "") -> ConfigChange:
    """Record who changed which configuration, why, and what they expect it to do."""
    return ConfigChange.objects.create(
        company=company,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=actor_label,
        object_type=object_type,
        object_id=str(object_id),
        changes=changes or {},
        reason=reason,
        expected_effect=expected_effect,
    )


def model_changes(instance, fields) -> dict:
    """Field -> [old, new] for the fields of `instance` that differ from the database row."""
    if instance.pk is None:
        return {f: [None, _jsonable(getattr(instance, f))] for f in fields}
    old = type(instance)._default_manager.filter(pk=instance.pk).values(*fields).first() or {}
    return {
        f: [_jsonable(old.get(f)), _jsonable(getattr(instance, f))]
        for f in fields
        if old.get(f) != getattr(instance, f)
    }


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


# Called with `company=` when a company's kill switch is lifted, inside the same transaction. Apps that hold
# work while halted register here (the commander queues its waiting jobs), so the API, the Command Center and
# the admin all resume the same way at once: there is one kill-switch service.
_EXECUTION_RESUMED: list = []


def execution_resumed_register(handler) -> None:
    if handler not in _EXECUTION_RESUMED:
        _EXECUTION_RESUMED.append(handler)


def company_halt_change(*, company: Company) -> ConfigChange | None:
    """The change-log entry that set the company's kill switch (who, when, why), while it is set."""
    if not company.execution_halted:
        return None
    return (ConfigChange.objects.filter(company=company, object_type="company.execution_halted")
            .select_related("actor").first())


@transaction.atomic
def company_set_halt(*, company: Company, halted: bool, actor=None, reason: str = "") -> Company:
    """The company kill switch: while halted, no job starts or makes a side effect; lifting it resumes the
    held work at once (see execution_resumed_register)."""
    company = Company.objects.select_for_update().get(pk=company.pk)
    if company.execution_halted == halted:
        return company
    config_change_record(
        company=company, actor=actor, object_type="company.execution_halted", object_id=company.slug,
        changes={"execution_halted": [company.execution_halted, halted]}, reason=reason,
        expected_effect="all job execution stops" if halted else "job execution resumes",
    )
    company.execution_halted = halted
    company.halted_reason = reason if halted else ""
    company.halted_at = timezone.now() if halted else None
    company.save(update_fields=["execution_halted", "halted_reason", "halted_at"])
    if not halted:
        for handler in _EXECUTION_RESUMED:
            handler(company=company)
    return company
