"""The personal-data registry: each app says what it holds about a person, and how to hand it over or erase it.

Apps register from their own `personal_data.py` (found at start-up like `admin.py`), naming the
models they cover. A system check refuses to start when a model with an e-mail field is covered
by no app, so a new app cannot forget. Three functions per app, each given a company and the
person's normalised e-mail address (and their name, which erasure must also remove):

- `export(company, person) -> {section: [rows]}`: JSON-ready rows of everything held;
- `erase(company, person) -> {model label: rows changed}`: remove or anonymise, keeping the
  amounts accounting needs;
- `purge(company, before) -> {model label: rows changed}` (optional): drop raw data older than the
  company's retention period (data minimisation).

Each function touches only the given company's rows.
"""

import re
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import models

ERASED = "[erased]"


@dataclass(frozen=True)
class Person:
    email: str  # normalised (lower case)
    name: str = ""


@dataclass(frozen=True)
class Holder:
    app_label: str
    models: tuple[str, ...]  # "app_label.ModelName" of every model this app covers
    export: object
    erase: object
    purge: object = None
    note: str = ""  # e.g. "prompts are never stored, only their hash"


_holders: dict[str, Holder] = {}


def register(app_label: str, *, models: tuple[str, ...] | list[str], export, erase, purge=None,
             note: str = "") -> None:
    _holders[app_label] = Holder(app_label=app_label, models=tuple(models), export=export, erase=erase,
                                 purge=purge, note=note)


def holders() -> list[Holder]:
    return [_holders[label] for label in sorted(_holders)]


def covered_models() -> set[str]:
    return {label for holder in _holders.values() for label in holder.models}


def models_holding_email() -> list[str]:
    """Every installed model of this project with an e-mail field (what must be covered)."""
    base = str(settings.BASE_DIR)
    found = []
    for model in apps.get_models():
        path = model._meta.app_config.path
        if not path.startswith(base) or "site-packages" in path:
            continue  # Django's and third-party apps' own models (auth users are not shop data)
        if any(isinstance(f, models.EmailField) for f in model._meta.get_fields()):
            found.append(model._meta.label)
    return sorted(found)


@checks.register()
def check_every_email_model_is_covered(app_configs=None, **kwargs):
    missing = [label for label in models_holding_email() if label not in covered_models()]
    return [
        checks.Error(f"{label} holds e-mail addresses but no app registers it for export and erasure.",
                     hint="Add it to the `models` of the app's personal_data.register(...) call.",
                     id="autonomax.E101")
        for label in missing
    ]


def export_person(company, person: Person) -> dict:
    """One JSON-ready document with everything every registered app holds about the person."""
    document = {"company": company.slug, "email": person.email, "apps": {}}
    for holder in holders():
        document["apps"][holder.app_label] = {"data": holder.export(company, person), "note": holder.note}
    return document


def erase_person(company, person: Person) -> dict:
    """Erase the person from every registered app; returns {model label: rows changed}."""
    changed = {}
    for holder in holders():
        changed.update({label: n for label, n in holder.erase(company, person).items() if n})
    return changed


def purge_older_than(company, before) -> dict:
    changed = {}
    for holder in holders():
        if holder.purge:
            changed.update({label: n for label, n in holder.purge(company, before).items() if n})
    return changed


def scrub(value, person: Person):
    """`value` (text, or JSON of dicts/lists/strings) with the person's e-mail and name replaced."""
    if isinstance(value, str):
        for needle in (person.email, person.name):
            if needle:
                value = re.sub(re.escape(needle), ERASED, value, flags=re.IGNORECASE)
        return value
    if isinstance(value, dict):
        return {scrub(k, person): scrub(v, person) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, person) for v in value]
    return value


def erased_email(pk) -> str:
    """A unique, undeliverable address that replaces an erased one (unique constraints stay intact)."""
    return f"erased-{pk}@erased.invalid"
