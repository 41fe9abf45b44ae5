"""Factories for the KPI engine's tests (KPIs, snapshots, and the chimera rows its metrics read)."""

from decimal import Decimal

import factory
from django.utils import timezone

from chimera.ai.models import AICall
from chimera.commander.models import Job, Mission, Play
from kpis.models import KPIDefinition, MetricSnapshot
from tests.factories import CompanyFactory


class KPIDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPIDefinition

    company = factory.SubFactory(CompanyFactory)
    key = factory.Sequence(lambda n: f"kpi-{n}")
    label = factory.LazyAttribute(lambda o: o.key.replace("-", " ").title())
    metric = "revenue.gross"
    direction = KPIDefinition.Direction.UP
    target = Decimal("100")
    warning_threshold = Decimal("100")
    critical_threshold = Decimal("80")
    window_days = 7
    freshness_minutes = 60


class MetricSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricSnapshot

    company = factory.SubFactory(CompanyFactory)
    metric = "revenue.gross"
    window_days = 7
    value = Decimal("100")
    at = factory.LazyFunction(timezone.now)
    source = "platform"


class AICallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AICall

    company = factory.SubFactory(CompanyFactory)
    task_type = "copy"
    provider = "offline"
    status = AICall.Status.SUCCEEDED
    cost_usd = Decimal("0.010000")


class PlayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Play

    company = factory.SubFactory(CompanyFactory)
    key = factory.Sequence(lambda n: f"play-{n}")
    label = "Play"
    owner = "growth_commander"


class MissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mission

    company = factory.SubFactory(CompanyFactory)
    play = factory.SubFactory(PlayFactory, company=factory.SelfAttribute("..company"))
    status = Mission.Status.COMPLETED
    explanation = "test"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    company = factory.SubFactory(CompanyFactory)
    mission = factory.SubFactory(MissionFactory, company=factory.SelfAttribute("..company"))
    type = "copy.write"
    bot = "copy_bot"
    status = Job.Status.SUCCEEDED
    finished_at = factory.LazyFunction(timezone.now)
