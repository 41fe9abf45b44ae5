"""The bots: each job type mapped to a function that acts through the apps' own services.

A bot gets its job and a BotContext; it calls `ctx.guard()` before each side
effect (kill switches), logs what it does with `ctx.log`, and makes every
side effect idempotent with the job's `idempotency_key`. It returns the job's
result (a dict with a human `summary`) only when it did its work: a bot that
did nothing (nothing to do, or its effect could not happen) raises NothingDone
with the reason, and a bot whose effect was needed but impossible raises an
error (the job fails and the mission goes to a person). Never report success
without the effect.
"""

from contextlib import contextmanager
from decimal import Decimal

from autonomax.errors import AppError

from ..models import Job
from .jobs import BotContext, NothingDone, TransientJobError


@contextmanager
def _ai_failure_is_transient():
    """'Every AI provider failed' is transient for a job: it retries with backoff."""
    from chimera.ai.errors import AllProvidersFailed  # noqa: PLC0415

    try:
        yield
    except AllProvidersFailed as exc:
        raise TransientJobError(exc.message) from exc


def _ai_generate(**kwargs):
    from chimera.ai.services import ai_generate  # noqa: PLC0415

    with _ai_failure_is_transient():
        return ai_generate(**kwargs)


def listing_copy(*, job: Job, ctx: BotContext) -> dict:
    """copy_bot: AI-written copy for the weakest (or most refunded) products, stored as drafts for review."""
    from commerce.services.catalog import (  # noqa: PLC0415
        catalog_products_pick,
        product_copy_draft_store,
        product_draft_exists,
    )

    params = job.params
    products = catalog_products_pick(company=ctx.company, pick=params.get("pick", "weakest"),
                                     limit=int(params.get("products", 3)))
    schema = {"type": "object", "required": ["title", "description", "tags"],
              "properties": {"title": {"type": "string", "maxLength": 70}, "description": {"type": "string"},
                             "tags": {"type": "array", "items": {"type": "string"}}}}
    drafts = []
    for product in products:
        key = f"{job.idempotency_key}:{product.pk}"
        if product_draft_exists(company=ctx.company, correlation_id=key):
            ctx.log(f"draft for '{product.name}' already written")
            continue
        ctx.guard()
        prompt = (f"Rewrite the store listing of the digital product '{product.name}' (price {product.price} "
                  f"{product.currency}) with the angle '{params.get('angle', 'clarity')}'. Current description: "
                  f"{product.description[:600]!r}. Say exactly what the buyer gets; title at most 70 characters; "
                  f"up to 13 tags.")
        result = _ai_generate(company=ctx.company, task_type="listing_copy", prompt=prompt, schema=schema,
                             correlation_id=str(ctx.mission.correlation_id), context={"job_id": job.pk})
        data = result.data if isinstance(result.data, dict) else {}
        draft, _ = product_copy_draft_store(
            product=product, title=data.get("title") or product.name,
            description=data.get("description") or result.content, tags=data.get("tags") or [],
            correlation_id=key, ai_provider=f"{result.provider}/{result.model}",
        )
        drafts.append(draft.pk)
        ctx.log(f"draft {draft.pk} for '{product.name}' written by {result.provider}/{result.model} "
                f"(${result.cost_usd})")
    return {"summary": f"{len(drafts)} listing draft(s) written for review", "draft_ids": drafts,
            "product_ids": [p.pk for p in products]}


def price_change_target(*, price: Decimal, params: dict) -> Decimal:
    """The new price a price_change step sets: `change_pct` off or on, never below `floor`."""
    floor = Decimal(str(params.get("floor", "1")))
    return max(floor, price * (100 + Decimal(str(params.get("change_pct", 0)))) / 100)


def price_change(*, job: Job, ctx: BotContext) -> dict:
    """pricing_bot: change one product's price by `change_pct`, never below `floor`; once per job."""
    from commerce.services.catalog import catalog_products_pick, product_price_change  # noqa: PLC0415

    params = job.params
    products = catalog_products_pick(company=ctx.company, pick=params.get("product", "best_seller"), limit=1)
    if not products:
        raise NothingDone("no active product to reprice", product_ids=[])
    product = products[0]
    new = price_change_target(price=product.price, params=params)
    ctx.guard()
    old = product.price
    product, changed = product_price_change(
        product=product, price=new, idempotency_key=str(job.idempotency_key), actor_label="pricing_bot",
        reason=f"mission {ctx.mission.pk} ({ctx.mission.play_snapshot.get('key')})")
    ctx.log(f"price of '{product.name}': {old} -> {product.price}" if changed
            else f"price of '{product.name}' was already changed by this job")
    return {"summary": f"'{product.name}' now {product.price}", "product_ids": [product.pk],
            "old_price": str(old), "new_price": str(product.price)}


def bundle_create(*, job: Job, ctx: BotContext) -> dict:
    """pricing_bot: a bundle of the best sellers at a discount; once per job."""
    from commerce.services.catalog import bundle_create as catalog_bundle_create  # noqa: PLC0415
    from commerce.services.catalog import catalog_products_pick  # noqa: PLC0415

    products = catalog_products_pick(company=ctx.company, pick="best_seller", limit=int(job.params.get("size", 3)))
    ctx.guard()
    bundle, created = catalog_bundle_create(company=ctx.company, products=products,
                                            discount_pct=Decimal(str(job.params.get("discount_pct", 20))),
                                            idempotency_key=str(job.idempotency_key))
    ctx.log(f"bundle '{bundle.name}' at {bundle.price} {'created' if created else 'already existed'}")
    return {"summary": f"bundle {bundle.sku} at {bundle.price}", "product_ids": [bundle.pk]}


def email_segment(*, job: Job, ctx: BotContext) -> dict:
    """email_bot: email a lead/customer segment (unsubscribe link in each); never twice per recipient per job.

    With a `discount` param the job first creates the real code in commerce (Stripe, and Shopify when
    connected), then fills `{code}`, `{offer}` and `{valid_until}` in the body. Every code an email mentions
    is checked for its reader before it goes out; a reader it is not valid for gets no email.
    """
    from autonomax.errors import AppError  # noqa: PLC0415
    from commerce.services.discounts import discount_for_job, discount_mention_problems  # noqa: PLC0415
    from growth.services import email_segment_send  # noqa: PLC0415

    from .evidence import holdout_excluded  # noqa: PLC0415

    params = job.params
    body, discount = params.get("body", ""), None
    if params.get("discount"):
        ctx.guard()
        try:
            discount, created = discount_for_job(
                company=ctx.company, spec=params["discount"], idempotency_key=str(job.idempotency_key),
                correlation_id=str(ctx.mission.correlation_id),
                source=f"mission {ctx.mission.pk} ({ctx.mission.play_snapshot.get('key')})")
        except AppError as exc:
            if exc.status >= 500:  # Stripe or Shopify unreachable: nothing was kept, a retry can succeed
                raise TransientJobError(exc.message) from exc
            raise
        ctx.log(f"discount {discount.code} ({discount.label}) {'created' if created else 'already created'}")
        until = discount.valid_until.date().isoformat() if discount.valid_until else ""
        body = body.replace("{code}", discount.code).replace("{offer}", discount.label).replace(
            "{valid_until}", until)
    elif "{code}" in body:
        raise AppError("The email mentions {code} but the play creates no discount.", code="no_discount")

    def check(texts: dict[str, str]) -> dict[str, str]:
        return discount_mention_problems(company=ctx.company, texts=texts)

    held_out = holdout_excluded(mission=ctx.mission)  # the play's holdout is never contacted
    result = email_segment_send(company=ctx.company, segment=params["segment"], subject=params["subject"],
                                body=body, send_key=str(job.idempotency_key), guard=ctx.guard,
                                recipient_check=check, exclude=held_out)
    ctx.log(f"segment {result['segment']}: {result['recipients']} recipient(s), {result['sent']} sent, "
            f"{result['already_sent']} already handled by this job, {len(result['not_sent'])} not sent, "
            f"{len(held_out)} held out")
    for skipped in result["not_sent"]:
        ctx.log(f"not sent to {skipped['email']}: {skipped['reason']}")
    if not result["sent"] and not result["already_sent"]:
        raise NothingDone(f"segment {result['segment']} has no one to email ({result['recipients']} recipient(s), "
                          f"0 sent)", **result)
    extra = {"discount_id": discount.pk, "discount_code": discount.code} if discount else {}
    return {"summary": f"{result['sent']} email(s) sent to {result['segment']}", **result, **extra}


def shopify_sync(*, job: Job, ctx: BotContext) -> dict:
    """shopify_bot: push the products earlier jobs changed to Shopify.

    Not connected: when those products are listed on Shopify, the store buyers see cannot change, so the
    job fails (the mission goes to a person); when the shop does not sell them there, nothing is synced and
    the job is skipped with that reason (the change holds on the platform's own checkout only).
    """
    ids = sorted({pk for r in ctx.previous_results() for pk in r.get("product_ids", [])})
    if not ids:
        raise NothingDone("no product was changed by the earlier jobs: nothing to sync", product_ids=[])
    synced = _sync_to_shopify(ctx=ctx, ids=ids)
    return {"summary": f"{len(synced)} product(s) synced to Shopify", "status": "synced", "listings": synced,
            "product_ids": ids}


def _sync_to_shopify(*, ctx: BotContext, ids: list[int]) -> list[str]:
    """Push products to Shopify; returns their listings' ids. Not connected: see `shopify_sync`."""
    from commerce.channels.base import ChannelError, ChannelNotConnected  # noqa: PLC0415
    from commerce.selectors import products_listed_on  # noqa: PLC0415
    from commerce.services.catalog import products_by_ids  # noqa: PLC0415
    from commerce.services.publishing import product_sync_to_channel  # noqa: PLC0415

    synced = []
    for product in products_by_ids(company=ctx.company, ids=ids):
        ctx.guard()
        try:
            listing = product_sync_to_channel(product=product, channel="shopify")
        except ChannelNotConnected as exc:
            listed = products_listed_on(company=ctx.company, ids=ids, channel="shopify")
            ctx.log(f"Shopify is not connected for {ctx.company.name}: nothing synced ({exc.message})")
            if listed or synced:
                raise AppError(f"Shopify is not connected, but products {listed or ids} are sold there: the "
                               f"store still shows the old version ({exc.message})", code="channel_not_connected"
                               ) from exc
            raise NothingDone("Shopify is not connected and these products are not listed there: nothing "
                              "synced; the change holds on the platform's own checkout only",
                              status="not_connected", product_ids=ids) from exc
        except ChannelError as exc:  # the channel says it is safe to retry
            raise TransientJobError(exc.message) from exc
        synced.append(listing.external_id)
        ctx.log(f"'{product.name}' synced to Shopify ({listing.external_id})")
    return synced


def _undo_price_change(*, job: Job, ctx: BotContext) -> list[int]:
    from commerce.services.catalog import product_price_change, products_by_ids  # noqa: PLC0415

    products = products_by_ids(company=ctx.company, ids=job.result.get("product_ids", []))
    for product in products:
        ctx.guard()
        product, changed = product_price_change(
            product=product, price=Decimal(job.result["old_price"]), idempotency_key=f"undo:{job.idempotency_key}",
            actor_label="pricing_bot", reason=ctx.job.params.get("reason", ""))
        ctx.log(f"price of '{product.name}' back to {product.price}" if changed else
                f"price of '{product.name}' was already put back")
    return [p.pk for p in products]


def _undo_bundle_create(*, job: Job, ctx: BotContext) -> list[int]:
    from commerce.services.catalog import product_archive, products_by_ids  # noqa: PLC0415

    products = products_by_ids(company=ctx.company, ids=job.result.get("product_ids", []))
    for product in products:
        ctx.guard()
        product, changed = product_archive(product=product, idempotency_key=f"undo:{job.idempotency_key}",
                                           actor_label="pricing_bot", reason=ctx.job.params.get("reason", ""))
        ctx.log(f"bundle '{product.name}' {'taken off sale' if changed else 'was already off sale'}")
    return [p.pk for p in products]


# The steps whose effect on the store can be taken back, and how (`mission_undo` queues the undo).
UNDO_STEPS = {"price_change": _undo_price_change, "bundle_create": _undo_bundle_create}


def undo(*, job: Job, ctx: BotContext) -> dict:
    """Take back what the mission's earlier jobs changed in the store (newest first), and push the products
    to Shopify again when the mission had pushed them there."""
    done = list(ctx.mission.jobs.filter(status=Job.Status.SUCCEEDED, order__lt=job.order).order_by("-order"))
    ids = []
    for step in done:
        if step.type in UNDO_STEPS:
            ids += UNDO_STEPS[step.type](job=step, ctx=ctx)
    if not ids:
        raise NothingDone("nothing this mission changed in the store can be taken back", product_ids=[])
    synced = _sync_to_shopify(ctx=ctx, ids=sorted(set(ids))) if any(s.type == "shopify_sync" for s in done) else []
    return {"summary": f"undone: {len(set(ids))} product(s) put back" + (", synced to Shopify" if synced else ""),
            "product_ids": sorted(set(ids)), "listings": synced}


def faq_macros(*, job: Job, ctx: BotContext) -> dict:
    """support_bot: FAQ macros for the most frequent ticket intents.

    A macro is kept only for a real answer (parsed text above the company's
    `support_min_confidence`); when no intent gets one, the job did nothing and says why per intent.
    """
    from support.services import macros_write_for_frequent_intents  # noqa: PLC0415

    p = job.params
    with _ai_failure_is_transient():
        result = macros_write_for_frequent_intents(
            company=ctx.company, source_key=str(job.idempotency_key), days=int(p.get("days", 30)),
            min_tickets=int(p.get("min_tickets", 2)), top=int(p.get("top", 5)), guard=ctx.guard,
            correlation_id=str(ctx.mission.correlation_id))
    ctx.log(f"macros written for {result['written'] or 'no'} intents; already written: {result['already_written']}")
    for intent, why in result["not_written"].items():
        ctx.log(f"no macro for {intent}: {why}")
    if not result["written"] and not result["already_written"]:
        reasons = "; ".join(f"{intent}: {why}" for intent, why in result["not_written"].items())
        raise NothingDone(f"no FAQ macro written ({reasons or 'no intent with enough tickets'})", **result)
    return {"summary": f"{len(result['written'])} FAQ macro(s) written", **result}


def ai_routing(*, job: Job, ctx: BotContext) -> dict:
    """ops_bot: move the company's AI routing preference (a repeat sets the same value: no change)."""
    from chimera.ai.services import ai_routing_preference_set  # noqa: PLC0415

    preference = job.params.get("preference", "cost_optimized")
    ctx.guard()
    ai_routing_preference_set(company=ctx.company, preference=preference, actor=None,
                              reason=f"mission {ctx.mission.pk} ({ctx.mission.play_snapshot.get('key')})")
    ctx.log(f"AI routing preference set to {preference}")
    return {"summary": f"AI routing is now {preference}", "preference": preference}


def experiment_start(*, job: Job, ctx: BotContext) -> dict:
    """experiment_bot: create and start a growth experiment for the mission (its correlation id on it).

    params: `key`, `name`, `variants` [{key, weight, is_control?, content?}], optional `unit`, `hypothesis`,
    `min_sample_per_variant`, `min_days`, `alpha`, `exposure_percent` (the waffle flag's rollout). The stored
    key is `key` plus the mission's number, so a play run again starts its own experiment. A retry of the job
    finds the experiment it created and only starts it; success only when the experiment is running.
    """
    from growth.experiments import experiment_create, experiment_for_key  # noqa: PLC0415
    from growth.experiments import experiment_start as growth_experiment_start  # noqa: PLC0415

    params = job.params
    correlation_id = str(ctx.mission.correlation_id)
    key = f"{params.get('key') or 'experiment'}-m{ctx.mission.pk}"
    experiment = experiment_for_key(company=ctx.company, key=key)
    if experiment is not None and experiment.correlation_id != correlation_id:
        raise AppError(f"experiment '{key}' exists and belongs to another mission", code="experiment_taken")
    if experiment is None:
        ctx.guard()
        experiment = experiment_create(
            company=ctx.company, key=key, name=params.get("name") or key, variants=params.get("variants") or [],
            unit=params.get("unit", "lead"), hypothesis=params.get("hypothesis", ""),
            min_sample_per_variant=int(params.get("min_sample_per_variant", 200)),
            min_days=int(params.get("min_days", 7)), alpha=float(params.get("alpha", 0.05)),
            exposure_percent=float(params.get("exposure_percent", 100)), correlation_id=correlation_id)
        ctx.log(f"experiment '{key}' created (flag {experiment.flag_name})")
    if experiment.status == experiment.Status.DRAFT:
        ctx.guard()
        experiment = growth_experiment_start(experiment=experiment)
        ctx.log(f"experiment '{key}' started")
    if experiment.status != experiment.Status.RUNNING:
        raise NothingDone(f"experiment '{key}' is {experiment.status}, not running: nothing started",
                          experiment_id=experiment.pk, status=experiment.status)
    return {"summary": f"experiment '{key}' running on flag {experiment.flag_name}", "experiment_id": experiment.pk,
            "experiment_key": key, "flag": experiment.flag_name, "status": experiment.status}


BOTS = {
    "listing_copy": listing_copy,
    "price_change": price_change,
    "bundle_create": bundle_create,
    "email_segment": email_segment,
    "shopify_sync": shopify_sync,
    "faq_macros": faq_macros,
    "ai_routing": ai_routing,
    "experiment_start": experiment_start,
    "undo": undo,
}
