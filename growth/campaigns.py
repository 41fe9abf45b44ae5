"""Campaigns and the content pipeline.

ideation (keywords and trend inputs → angles, by the AI engine) → creation (an
A and a B variant per channel, by the AI engine) → optimisation (SEO checks:
length, keyword placement, readability) → review (a person approves, unless
the campaign is auto) → distribution (an email broadcast, once per recipient;
social channels get ready-to-post content recorded, never a claim of posting,
as no social API is connected) → measurement (sends, opens, clicks,
conversions by UTM). The email A/B split is an Experiment, so its read-out
is the experiments' one.
"""

import re
from datetime import timedelta
from functools import cache
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import escape

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company

from .capture import growth_settings_for
from .deliverability import provider_message_id, tracking_tag
from .events import open_pixel_url, tracked_link
from .models import Campaign, CampaignContent, EmailDelivery, Experiment, Lead, LeadEvent, Unsubscribe
from .personal_data import suppressed_address

AUDIENCES = ("warm_leads", "new_leads", "customers", "all_consenting")
LIMITS = {"email": 4000, "x": 280, "linkedin": 3000, "instagram": 2200}


@cache
def _hyphenator():
    """The English hyphenation dictionary (1.8 s to load): loaded on the first readability check."""
    import pyphen  # noqa: PLC0415

    return pyphen.Pyphen(lang="en_US")


def _move(campaign: Campaign, to: str) -> None:
    if to not in Campaign.TRANSITIONS[campaign.stage]:
        raise ConflictError(f"A campaign in {campaign.stage} cannot move to {to}.", code="invalid_transition")
    campaign.stage = to


def _ai(*, company: Company, task_type: str, prompt: str, context: dict, correlation_id: str):
    from chimera.ai.services import ai_generate  # noqa: PLC0415 - growth calls the engine, never the reverse

    return ai_generate(company=company, task_type=task_type, prompt=prompt, context=context,
                       correlation_id=correlation_id)


def campaign_create(*, company: Company, name: str, brief: str, keywords=None, audience: str = "warm_leads",
                    channels=None, utm_campaign: str = "", landing_url: str = "", schedule_at=None,
                    auto_approve: bool = False) -> Campaign:
    keywords = [str(k).strip() for k in (keywords or []) if str(k).strip()]
    channels = list(channels or ["email"])
    utm = utm_campaign or re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:100]
    errors = {}
    if not brief.strip():
        errors["brief"] = "Required."
    if audience not in AUDIENCES:
        errors["audience"] = f"One of {', '.join(AUDIENCES)}."
    unknown = [c for c in channels if c not in Campaign.CHANNELS]
    if unknown or not channels:
        errors["channels"] = f"Some of {', '.join(Campaign.CHANNELS)}."
    if not utm:
        errors["utm_campaign"] = "Required."
    elif Campaign.objects.filter(company=company, utm_campaign=utm).exists():
        errors["utm_campaign"] = "Another campaign uses this utm_campaign."
    if errors:
        raise AppError(next(iter(errors.values())), code="invalid", details=errors)
    return Campaign.objects.create(company=company, name=name, brief=brief, keywords=keywords, audience=audience,
                                   channels=channels, utm_campaign=utm, landing_url=landing_url,
                                   schedule_at=schedule_at, auto_approve=auto_approve)


@transaction.atomic
def campaign_ideate(*, campaign: Campaign, trends=None) -> Campaign:
    """Angles from the brief, keywords and trend inputs (the AI engine); moves to creation."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _move(campaign, Campaign.Stage.CREATION)
    inputs = [*campaign.keywords, *[str(t) for t in (trends or [])]]
    result = _ai(company=campaign.company, task_type="content_generation", correlation_id=f"campaign:{campaign.pk}",
                 prompt=f"Campaign ideas. Brief: {campaign.brief}. Keywords and trends: {', '.join(inputs)}.",
                 context={"keywords": inputs})
    angles = [line.lstrip("#").strip() for line in result.content.splitlines() if line.startswith("#")]
    campaign.ideas = [{"keyword": k, "angle": angles[i % len(angles)] if angles else k} for i, k in
                      enumerate(inputs or [campaign.name])]
    campaign.save(update_fields=["ideas", "stage"])
    return campaign


def _utm_url(campaign: Campaign, *, channel: str, variant: str) -> str:
    if not campaign.landing_url:
        return ""
    parts = urlsplit(campaign.landing_url)
    query = urlencode({"utm_source": channel, "utm_medium": "email" if channel == "email" else "social",
                       "utm_campaign": campaign.utm_campaign, "utm_content": variant})
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def _syllables(word: str) -> int:
    return max(1, len(_hyphenator().positions(word)) + 1)


def readability(text: str) -> float | None:
    """Flesch reading ease (higher is easier; 60-70 is plain English), syllables by hyphenation."""
    words = re.findall(r"[A-Za-z']+", text)
    sentences = max(1, len(re.findall(r"[.!?]+", text)))
    if not words:
        return None
    syllables = sum(_syllables(w) for w in words)
    return round(206.835 - 1.015 * (len(words) / sentences) - 84.6 * (syllables / len(words)), 1)


def seo_check(*, channel: str, title: str, body: str, keyword: str) -> dict:
    """Checks a person can act on, each with ok and why; `score` is the share passed."""
    checks = []
    key = keyword.lower().strip()
    if channel == "email":
        checks.append({"check": "subject length", "ok": 20 <= len(title) <= 70,
                       "detail": f"{len(title)} characters (aim for 20-70)"})
    checks.append({"check": "body length", "ok": 0 < len(body) <= LIMITS[channel],
                   "detail": f"{len(body)} characters (at most {LIMITS[channel]} on {channel})"})
    if key:
        checks.append({"check": "keyword in title", "ok": key in title.lower(), "detail": f"'{keyword}'"})
        checks.append({"check": "keyword early in the text", "ok": key in body[:150].lower(),
                       "detail": f"'{keyword}' in the first 150 characters"})
    ease = readability(body)
    checks.append({"check": "readability", "ok": ease is not None and ease >= 50,
                   "detail": f"Flesch reading ease {ease} (aim for 50+)"})
    return {"checks": checks, "score": round(sum(c["ok"] for c in checks) / len(checks), 2), "readability": ease}


@transaction.atomic
def campaign_create_content(*, campaign: Campaign) -> Campaign:
    """Creation and optimisation: an A and a B variant per channel, each SEO-checked; then review (or approved
    when the campaign is auto)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _move(campaign, Campaign.Stage.OPTIMISATION)
    keyword = campaign.keywords[0] if campaign.keywords else ""
    angles = [i["angle"] for i in campaign.ideas] or [campaign.brief]
    CampaignContent.objects.filter(campaign=campaign).delete()
    for channel in campaign.channels:
        for index, variant in enumerate(("a", "b")):
            link = _utm_url(campaign, channel=channel, variant=variant)
            corr = f"campaign:{campaign.pk}:{channel}:{variant}"
            if channel == "email":
                result = _ai(company=campaign.company, task_type="email", correlation_id=corr,
                             prompt=f"{campaign.brief} Angle: {angles[index % len(angles)]}",
                             context={"purpose": ("launch", "nurture")[index], "product": campaign.name,
                                      "keywords": campaign.keywords, "description": campaign.brief})
                title, body = result.data["subject"], result.data["body"]
            else:
                result = _ai(company=campaign.company, task_type="content_generation", correlation_id=corr,
                             prompt=f"A {channel} post. {campaign.brief} Angle: {angles[index % len(angles)]}",
                             context={"keywords": campaign.keywords})
                lines = [line.lstrip("#").strip() for line in result.content.splitlines() if line.strip()]
                title = lines[0][:200] if lines else campaign.name
                body = " ".join(lines[1:]) or title
            if link:
                body = f"{body}\n\n{link}"
            body = body[:LIMITS[channel]] if channel != "x" else _clip_post(body, link)
            CampaignContent.objects.create(company=campaign.company, campaign=campaign, channel=channel,
                                           variant=variant, title=title[:200], body=body,
                                           seo=seo_check(channel=channel, title=title, body=body, keyword=keyword))
    if campaign.auto_approve:
        _move(campaign, Campaign.Stage.APPROVED)
        campaign.approved_at = timezone.now()
        campaign.save(update_fields=["stage", "approved_at"])
    else:
        _move(campaign, Campaign.Stage.REVIEW)
        campaign.save(update_fields=["stage"])
    return campaign


def _clip_post(body: str, link: str) -> str:
    limit = LIMITS["x"]
    if len(body) <= limit:
        return body
    text = body.replace(link, "").strip()
    room = limit - (len(link) + 2 if link else 0) - 1
    return (text[:room].rstrip() + "…" + (f"\n\n{link}" if link else ""))[:limit]


@transaction.atomic
def campaign_review(*, campaign: Campaign, actor, approve: bool) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _move(campaign, Campaign.Stage.APPROVED if approve else Campaign.Stage.CREATION)
    fields = ["stage"]
    if approve:
        campaign.approved_by = actor if getattr(actor, "is_authenticated", False) else None
        campaign.approved_at = timezone.now()
        fields += ["approved_by", "approved_at"]
    campaign.save(update_fields=fields)
    return campaign


def campaign_audience(*, campaign: Campaign, now=None) -> list[Lead]:
    """Consenting leads of the campaign's segment, minus unsubscribed and suppressed addresses."""
    from .sequences import segment_leads  # noqa: PLC0415

    if campaign.audience == "all_consenting":
        leads = Lead.objects.filter(company=campaign.company).exclude(status=Lead.Status.UNSUBSCRIBED)
    else:
        leads = segment_leads(company=campaign.company, segment=campaign.audience, now=now)
    blocked = set(Unsubscribe.objects.filter(company=campaign.company).values_list("email", flat=True))
    return [lead for lead in leads.filter(consent=True).select_related("company").order_by("pk")
            if lead.email.lower() not in blocked and suppressed_address(lead.email) not in blocked]


def _email_contents(campaign: Campaign) -> dict[str, CampaignContent]:
    return {c.variant: c for c in campaign.contents.filter(channel="email")}


def _render(content: CampaignContent, lead: Lead | None, campaign: Campaign) -> tuple[str, str]:
    name = (lead.name if lead else "") or "there"
    body = content.body.replace("{name}", name)
    body = re.sub(r"^Hi there,", f"Hi {name},", body) if lead and lead.name else body
    return content.title, body


def campaign_preview(*, campaign: Campaign) -> dict:
    """What a person checks before any send: the audience count and each piece rendered."""
    audience = campaign_audience(campaign=campaign)
    sample = audience[0] if audience else None
    email = {}
    for variant, content in _email_contents(campaign).items():
        subject, body = _render(content, sample, campaign)
        email[variant] = {"subject": subject, "body": body, "seo": content.seo}
    social = [{"channel": c.channel, "variant": c.variant, "title": c.title, "body": c.body, "seo": c.seo,
               "status": c.status} for c in campaign.contents.exclude(channel="email")]
    return {"audience_count": len(audience), "stage": campaign.stage, "email": email, "social": social}


def campaign_test_send(*, campaign: Campaign, to: str) -> int:
    """The rendered email(s) to one address, marked [TEST]; recorded nowhere, counted nowhere."""
    from .capture import email_normalise  # noqa: PLC0415

    try:
        to = email_normalise(to)
    except ValueError as exc:
        raise AppError(str(exc), code="invalid", details={"email": str(exc)}) from None
    contents = _email_contents(campaign)
    if not contents:
        raise ConflictError("No email content yet: run creation first.", code="no_content")
    for variant, content in sorted(contents.items()):
        subject, body = _render(content, None, campaign)
        EmailMultiAlternatives(subject=f"[TEST {variant.upper()}] {subject}", body=body, to=[to],
                               from_email=campaign.company.support_email or None).send()
    return len(contents)


def _experiment_for(campaign: Campaign) -> Experiment | None:
    from .experiments import experiment_create, experiment_start  # noqa: PLC0415

    if campaign.experiment_id:
        return campaign.experiment
    variants = sorted(_email_contents(campaign))
    if len(variants) < 2:
        return None
    experiment = experiment_create(
        company=campaign.company, key=f"campaign-{campaign.utm_campaign}"[:64], name=f"{campaign.name}: A/B email",
        variants=[{"key": v, "weight": 50, "is_control": v == "a"} for v in variants],
        correlation_id=f"campaign:{campaign.pk}", min_days=3)
    experiment = experiment_start(experiment=experiment)
    Campaign.objects.filter(pk=campaign.pk).update(experiment=experiment)
    campaign.experiment = experiment
    return experiment


def campaign_distribute(*, campaign_id: int, now=None) -> dict:
    """Send the approved campaign: each recipient at most once (a delivery row committed before the send),
    consent and unsubscribes checked now, the weekly marketing cap honoured; social content recorded as ready
    to post by hand. Safe to re-run: a repeat sends nothing new."""
    from .experiments import variant_for  # noqa: PLC0415
    from .sequences import _marketing_sent_since, marketing_headers  # noqa: PLC0415

    now = now or timezone.now()
    campaign = Campaign.objects.select_related("company", "experiment").get(pk=campaign_id)
    if campaign.stage not in (Campaign.Stage.APPROVED, Campaign.Stage.DISTRIBUTED):
        raise ConflictError(f"The campaign is in {campaign.stage}: it needs approval first.", code="not_approved")
    if campaign.paused_at is not None:
        raise ConflictError(f"The campaign is paused ({campaign.pause_reason}): resume it first.", code="paused")
    company = campaign.company
    counts = {"sent": 0, "already_sent": 0, "capped": 0, "failed": 0, "social_ready": 0, "paused": False}
    contents = _email_contents(campaign)
    if "email" in campaign.channels and contents:
        experiment = _experiment_for(campaign)
        group = growth_settings_for(company=company)
        send_key = f"campaign:{campaign.pk}"
        for lead in campaign_audience(campaign=campaign, now=now):
            # The provider's webhook may pause the campaign while it is being sent (bounces, complaints).
            if Campaign.objects.filter(pk=campaign.pk, paused_at__isnull=False).exists():
                counts["paused"] = True
                break
            if EmailDelivery.objects.filter(company=company, send_key=send_key, email=lead.email).exists():
                counts["already_sent"] += 1
                continue
            if group.marketing_cap_per_week and len(_marketing_sent_since(
                    lead=lead, since=now - timedelta(days=7))) >= group.marketing_cap_per_week:
                counts["capped"] += 1
                continue
            variant = variant_for(experiment=experiment, unit_id=lead.pk, now=now) if experiment else "a"
            content = contents.get(variant) or contents["a"]
            try:
                with transaction.atomic():
                    delivery = EmailDelivery.objects.create(company=company, send_key=send_key, email=lead.email,
                                                            lead=lead, subject=content.title[:200])
            except IntegrityError:
                counts["already_sent"] += 1
                continue
            subject, body = _render(content, lead, campaign)
            message_key = f"campaign:{campaign.pk}:{variant}"
            if campaign.landing_url:
                for url in set(re.findall(r"https?://\S+", body)):
                    if "utm_campaign=" in url:
                        body = body.replace(url, tracked_link(lead=lead, message=message_key, url=url))
            link, headers = marketing_headers(company=company, email=lead.email)
            body += f"\n--\n{company.name}\nUnsubscribe: {link}\n"
            message = EmailMultiAlternatives(subject=subject, body=body, to=[lead.email], headers=headers,
                                             from_email=company.support_email or None)
            pixel = open_pixel_url(lead=lead, message=message_key)
            message.attach_alternative(f'<div style="white-space:pre-wrap">{escape(body)}</div>'
                                       f'<img src="{pixel}" width="1" height="1" alt="">', "text/html")
            tracking_tag(message, kind="delivery", pk=delivery.pk)
            try:
                message.send()
            except OSError:
                EmailDelivery.objects.filter(pk=delivery.pk).delete()
                raise
            EmailDelivery.objects.filter(pk=delivery.pk).update(status=EmailDelivery.Status.SENT, sent_at=now,
                                                                provider_message_id=provider_message_id(message))
            counts["sent"] += 1
    counts["social_ready"] = CampaignContent.objects.filter(campaign=campaign).exclude(channel="email").filter(
        status=CampaignContent.Status.DRAFT).update(status=CampaignContent.Status.READY, recorded_at=now)
    CampaignContent.objects.filter(campaign=campaign, channel="email").update(status=CampaignContent.Status.SENT,
                                                                             recorded_at=now)
    if not counts["paused"]:
        Campaign.objects.filter(pk=campaign.pk, stage=Campaign.Stage.APPROVED).update(
            stage=Campaign.Stage.DISTRIBUTED, distributed_at=now)
    return counts


def campaigns_due(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(Campaign.objects.filter(stage=Campaign.Stage.APPROVED, schedule_at__lte=now, paused_at__isnull=True,
                                        company__is_active=True, company__execution_halted=False)
                .values_list("pk", flat=True))


def campaign_results(*, campaign: Campaign) -> dict:
    """Sends, opens, clicks and conversions: by variant (tracked links) and by UTM source/medium (captures)."""
    sent = EmailDelivery.objects.filter(company_id=campaign.company_id, send_key=f"campaign:{campaign.pk}",
                                        status=EmailDelivery.Status.SENT).count()
    events = LeadEvent.objects.filter(company=campaign.company,
                                      properties__message__startswith=f"campaign:{campaign.pk}:")
    by_variant: dict[str, dict] = {}
    for row in events.values("type", "properties__message").annotate(n=Count("lead", distinct=True)):
        variant = row["properties__message"].rsplit(":", 1)[1]
        by_variant.setdefault(variant, {"opens": 0, "clicks": 0})[
            "opens" if row["type"] == LeadEvent.Type.EMAIL_OPEN else "clicks"] = row["n"]
    leads = Lead.objects.filter(company=campaign.company, utm_campaign=campaign.utm_campaign)
    by_utm = list(leads.values("utm_source", "utm_medium").annotate(
        leads=Count("id"), conversions=Count("id", filter=Q(converted_at__isnull=False))).order_by("-leads"))
    clicked = events.filter(type=LeadEvent.Type.EMAIL_CLICK).values("lead")
    converted_after = Lead.objects.filter(pk__in=clicked, converted_at__isnull=False)
    if campaign.distributed_at:
        converted_after = converted_after.filter(converted_at__gte=campaign.distributed_at)
    return {"sent": sent, "by_variant": by_variant, "by_utm": by_utm,
            "clicked_then_converted": converted_after.count(),
            "social": [{"channel": c.channel, "variant": c.variant, "status": c.status,
                        "note": "ready to post by hand: no social API is connected"}
                       for c in campaign.contents.exclude(channel="email")],
            "experiment_id": campaign.experiment_id}
