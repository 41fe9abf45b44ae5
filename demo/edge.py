"""The simulator at the network edge: where a real service would talk to an email provider, Shopify or
an AI provider, the simulated shop answers instead and its hidden state changes.

Nothing here is known to the commander or the apps: the stand-ins plug into the seams the tests use
(Django's EMAIL_BACKEND, the Shopify adapter's remote calls for products and discount codes, the AI engine's
provider calls),
only while a run is going on (`edge_installed`).

- A marketing email that reaches a simulated person (`sim-<id>@shop.test`) is a contact: the play's
  effects act on that person, fatigue builds up, and a person who unsubscribes clicks the email's
  real unsubscribe link the next day.
- A product pushed to Shopify, or listing copy written by the AI, changes the store: the play's
  effects act on every visitor (once per mission). A product pushed again by the mission's undo job (the
  platform took a losing change back) ends those effects that day.
The play acting is the one whose job is running: the bot is mid-call when it reaches the edge.
"""

import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from unittest import mock

from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from .shop import Shop

ADDRESS = re.compile(r"^sim-(\d+)@shop\.test$")
_current: "Edge | None" = None


def person_email(person_id: int) -> str:
    return f"sim-{person_id}@shop.test"


@dataclass
class Edge:
    company_id: int
    shop: Shop
    day: int = 0
    contacts: int = 0
    store_changes: list[tuple[int, str]] = field(default_factory=list)  # (day, play)
    # (day, play): store changes the platform took back while their effects still acted
    store_reverts: list[tuple[int, str]] = field(default_factory=list)
    pending_unsubscribes: list[str] = field(default_factory=list)  # unsubscribe URLs to click
    _changed_missions: set[int] = field(default_factory=set)
    _remote: dict[str, dict] = field(default_factory=dict)  # the simulated Shopify's products
    _discounts: dict[str, str] = field(default_factory=dict)  # the simulated Shopify's discount codes
    _acting: object = None

    def forget(self) -> None:
        """A new job (or cycle) starts: look up the acting play again at the next edge call."""
        self._acting = None

    def acting(self) -> tuple[int, str, str] | None:
        """(mission id, play key, job type) of the sandbox's running job, or None (looked up once per job)."""
        from chimera.commander.models import Job  # noqa: PLC0415

        if self._acting is None:
            row = (Job.objects.filter(company_id=self.company_id, status=Job.Status.RUNNING)
                   .order_by("-started_at", "-pk").values_list("mission_id", "mission__play_snapshot", "type")
                   .first())
            self._acting = ((row[0], (row[1] or {}).get("key", ""), row[2]),) if row else ((),)
        return self._acting[0] or None

    # --- what reaches the edge --------------------------------------------------------------------
    def email(self, message) -> None:
        acting = self.acting()
        if acting is None:
            return  # an alert to the owners, not marketing
        link = (message.extra_headers or {}).get("List-Unsubscribe", "").strip("<>")
        for address in message.recipients():
            found = ADDRESS.match(address.lower())
            if not found:
                continue
            person_id = int(found.group(1))
            person = self.shop.people.get(person_id)
            was = bool(person and person.unsubscribed)
            if self.shop.contact(person_id=person_id, play=acting[1], day=self.day):
                self.contacts += 1
            if person is not None and person.unsubscribed and not was and link:
                self.pending_unsubscribes.append(link)

    def store_change(self) -> None:
        acting = self.acting()
        if acting is None:
            return
        if acting[2] == "undo":
            if self.shop.store_revert(play=acting[1], day=self.day):
                self.store_reverts.append((self.day, acting[1]))
            return
        if acting[0] in self._changed_missions:
            return
        self._changed_missions.add(acting[0])
        self.shop.store_change(play=acting[1], day=self.day)
        self.store_changes.append((self.day, acting[1]))

    # --- the simulated Shopify (the adapter's remote calls) ---------------------------------------
    def shopify_find(self, *, handle: str):
        item = next((p for p in self._remote.values() if p["handle"] == handle), None)
        return self._remote_product(item)

    def shopify_fetch(self, *, external_id: str):
        return self._remote_product(self._remote.get(external_id))

    def shopify_upsert(self, *, external_id: str, handle: str, title: str, description: str, tags: list[str],
                       price: Decimal, active: bool = True):
        external_id = external_id or f"gid://shopify/Product/{len(self._remote) + 1}"
        self._remote[external_id] = {"external_id": external_id, "handle": handle, "title": title,
                                     "price": Decimal(price)}
        self.store_change()
        return self._remote_product(self._remote[external_id])

    def shopify_discount(self, *, code: str, **_terms) -> str:
        """A discount code the email bot creates for its message (the offer itself is the play's effect)."""
        return self._discounts.setdefault(code, f"gid://shopify/DiscountCodeNode/{len(self._discounts) + 1}")

    @staticmethod
    def _remote_product(item):
        from commerce.channels.base import RemoteProduct  # noqa: PLC0415

        if item is None:
            return None
        return RemoteProduct(external_id=item["external_id"], title=item["title"], price=item["price"],
                             status="active", url=f"https://sim.myshopify.com/products/{item['handle']}",
                             handle=item["handle"])


class SimulatedEmailBackend(BaseEmailBackend):
    """EMAIL_BACKEND during a run: every message reaches the simulated shop instead of a mail server."""

    def send_messages(self, email_messages):
        for message in email_messages:
            if _current is not None:
                _current.email(message)
        return len(email_messages)


@contextmanager
def edge_installed(edge: Edge):
    """The stand-ins in place for the duration of a run."""
    global _current
    from chimera.ai import services as ai_services  # noqa: PLC0415
    from chimera.ai.providers.base import ProviderFailure  # noqa: PLC0415
    from commerce.channels.shopify import ShopifyChannel  # noqa: PLC0415

    offline = ai_services.offline_generate

    def ai_offline(**kwargs):
        edge.store_change()  # copy (or macros) written for the store
        return offline(**kwargs)

    def ai_hosted(**kwargs):
        raise ProviderFailure("the simulator stands in for hosted AI providers", failover=True)

    previous, _current = _current, edge
    try:
        with ExitStack() as stack:
            # The simulated shop sells through its Shopify connection only: no Stripe account to call.
            stack.enter_context(override_settings(EMAIL_BACKEND="demo.edge.SimulatedEmailBackend",
                                                  STRIPE_SECRET_KEY=""))
            stack.enter_context(mock.patch.object(ai_services, "offline_generate", ai_offline))
            stack.enter_context(mock.patch.object(ai_services, "openai_chat", ai_hosted))
            for name in ("product_find", "product_fetch", "product_upsert"):
                stand_in = getattr(edge, f"shopify_{name.split('_')[1]}")
                stack.enter_context(mock.patch.object(ShopifyChannel, name,
                                                      lambda self, _f=stand_in, **kw: _f(**kw)))
            stack.enter_context(mock.patch.object(ShopifyChannel, "discount_code_upsert",
                                                  lambda self, **kw: edge.shopify_discount(**kw)))
            yield edge
    finally:
        _current = previous
