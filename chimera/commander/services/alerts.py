"""The owners' alerts, from the platform core (every app uses them): re-exported for the commander."""

from autonomax.alerts import owner_emails, owners_alert

__all__ = ["owner_emails", "owners_alert"]
