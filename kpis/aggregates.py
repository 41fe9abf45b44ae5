"""Database aggregates the metric functions need beyond Django's built-ins."""

import statistics

from django.db.models import Aggregate, DurationField


class Median(Aggregate):
    """The median of an expression, computed by the database.

    PostgreSQL: `percentile_cont(0.5) WITHIN GROUP (ORDER BY expr)`, which also
    works on intervals. SQLite (the embedded default) has no percentile
    function, so `KpisConfig.ready()` registers `kpis_median` on each SQLite
    connection (`sqlite_median_register`).
    """

    function = "kpis_median"
    name = "Median"
    allow_distinct = False

    def __init__(self, expression, **extra):
        extra.setdefault("output_field", DurationField())
        super().__init__(expression, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        clone = self.copy()
        clone.function = "percentile_cont"
        clone.template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
        return clone.as_sql(compiler, connection, **extra_context)


class _SqliteMedian:
    def __init__(self):
        self.values = []

    def step(self, value):
        if value is not None:
            self.values.append(value)

    def finalize(self):
        return statistics.median(self.values) if self.values else None


def sqlite_median_register(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: teach SQLite the `kpis_median` aggregate."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("kpis_median", 1, _SqliteMedian)
