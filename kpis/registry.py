"""The metric registry: each app registers its metric functions from its own `metrics.py`.

`kpis` never imports another app. At start-up `KpisConfig.ready()` imports every
installed app's `metrics` module (like the admin's autodiscover); the decorators
below record what those modules define.

Two kinds of entries:

- a *family*: one function computing one or more metrics that share a table,
  for a list of time windows, in ONE aggregate query. It receives
  `company` and `windows` (a list of `Window`) and returns one dict
  `{metric name: value or None}` per window, in the same order.
- a *derived* metric: computed from other metrics' values for the same window
  (e.g. net revenue from gross revenue and refunds), no query of its own.

`per_window` builds the queries of the usual family: aggregates over rows whose time field
falls in each window. A long run of whole UTC days (the first cycle's 60-day history) is computed
by one grouped query (`GROUP BY` the day) instead of one conditional aggregate per day: the same
numbers, without building thousands of SQL expressions in Python.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.db.models.functions import TruncDay

QUANTUM = Decimal("0.0001")
DAY = timedelta(days=1)
# From this many whole-day windows on, the days are computed by one grouped query. Below it they ride in the
# family's conditional aggregate (the steady cycle's two refreshed days: one query, not two).
GROUPED_DAYS_MIN = 8


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Family:
    names: tuple[str, ...]
    func: object
    label: str


@dataclass(frozen=True)
class Derived:
    name: str
    needs: tuple[str, ...]
    func: object
    label: str


_families: dict[str, Family] = {}  # keyed by function path
_derived: dict[str, Derived] = {}
_owner: dict[str, str] = {}  # metric name -> function path that computes it
_marker_sources: dict[str, object] = {}  # keyed by function path


def _path(func) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _claim(name: str, path: str) -> None:
    owner = _owner.get(name)
    if owner is not None and owner != path:
        raise ImproperlyConfigured(f"metric {name!r} is registered twice ({owner} and {path})")
    _owner[name] = path


def metric_family(*names: str):
    """Register a function computing `names` over many windows in one query."""

    def decorator(func):
        path = _path(func)
        for name in names:
            _claim(name, path)
        _families[path] = Family(names=tuple(names), func=func, label=(func.__doc__ or "").strip().split("\n")[0])
        return func

    return decorator


def derived_metric(name: str, *, needs: list[str] | tuple[str, ...]):
    """Register `name = func(values)` where `values` holds the metrics in `needs` for the same window."""

    def decorator(func):
        path = _path(func)
        _claim(name, path)
        _derived[name] = Derived(name=name, needs=tuple(needs), func=func,
                                 label=(func.__doc__ or "").strip().split("\n")[0])
        return func

    return decorator


def chart_markers(func):
    """Register `func(*, company, kpi_key, since) -> [{"at": datetime, "label": str}]`: events another app
    wants drawn on a KPI's chart (e.g. where a mission ran and what it changed), without kpis knowing it."""
    _marker_sources[_path(func)] = func
    return func


def markers_for(*, company, kpi_key: str, since) -> list[dict]:
    markers = [m for source in _marker_sources.values() for m in source(company=company, kpi_key=kpi_key,
                                                                          since=since)]
    return sorted(markers, key=lambda m: m["at"])


def metric_names() -> list[str]:
    return sorted(_owner)


def is_registered(name: str) -> bool:
    return name in _owner


def families() -> list[Family]:
    return list(_families.values())


def derived_in_order() -> list[Derived]:
    """Derived metrics ordered so each comes after the derived metrics it needs."""
    done: list[Derived] = []
    seen: set[str] = set()

    def visit(item: Derived, stack: tuple[str, ...]) -> None:
        if item.name in seen:
            return
        if item.name in stack:
            raise ImproperlyConfigured(f"derived metrics form a cycle: {' -> '.join(stack + (item.name,))}")
        for need in item.needs:
            if need in _derived:
                visit(_derived[need], stack + (item.name,))
            elif need not in _owner:
                raise ImproperlyConfigured(f"derived metric {item.name!r} needs unknown metric {need!r}")
        seen.add(item.name)
        done.append(item)

    for item in list(_derived.values()):
        visit(item, ())
    return done


def to_decimal(value) -> Decimal | None:
    """A database aggregate (int, float, Decimal or None) as a Decimal with 4 places."""
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(QUANTUM)
    except InvalidOperation:
        return None


def ratio(numerator, denominator) -> Decimal | None:
    """numerator / denominator, or None when the denominator is empty or zero (no data, not zero)."""
    if numerator is None or not denominator:
        return None
    return to_decimal(Decimal(str(numerator)) / Decimal(str(denominator)))


def span(windows: list[Window]) -> Window:
    """The smallest window covering all of `windows` (for the WHERE clause of a family query)."""
    return Window(start=min(w.start for w in windows), end=max(w.end for w in windows))


def day_windows(windows: list[Window]) -> tuple[list[int], list[int]]:
    """(indices of the windows to compute by day, indices of the others).

    A window goes by day when it is one whole UTC day and there are at least GROUPED_DAYS_MIN such windows.
    """
    days = [i for i, w in enumerate(windows)
            if w.end - w.start == DAY and w.start.astimezone(UTC).time() == datetime.min.time()]
    if len(days) < GROUPED_DAYS_MIN:
        return [], list(range(len(windows)))
    grouped = set(days)
    return days, [i for i in range(len(windows)) if i not in grouped]


def per_window(queryset, *, field: str, windows: list[Window], aggregates) -> list[dict]:
    """The common shape of a family: every window's aggregates over the rows whose `field` falls in it.

    `aggregates(in_window, window)` names one window's aggregates; `in_window` is the Q selecting the rows
    whose `field` falls in that window. In the grouped query of whole days (`per_day`) `in_window` is empty
    and `window`'s bounds are SQL expressions (the row's day): use them inside expressions only.
    Returns `{name: value}` per window, in the order of `windows`: one conditional aggregate query for the
    windows, plus one grouped query when there are many whole days (see `day_windows`).
    """
    by_day, others = day_windows(windows)
    results: list[dict | None] = [None] * len(windows)
    if others:
        chosen = [windows[i] for i in others]
        for i, row in zip(others, _conditional(queryset, field=field, windows=chosen, aggregates=aggregates),
                          strict=True):
            results[i] = row
    if by_day:
        chosen = [windows[i] for i in by_day]
        for i, row in zip(by_day, per_day(queryset, field=field, windows=chosen, aggregates=aggregates),
                          strict=True):
            results[i] = row
    return results


def _conditional(queryset, *, field: str, windows: list[Window], aggregates) -> list[dict]:
    """ONE query over the span of the windows: each window's aggregates filtered to its rows."""
    whole = span(windows)
    expressions, names = {}, []
    for i, w in enumerate(windows):
        named = aggregates(Q(**{f"{field}__gte": w.start, f"{field}__lt": w.end}), w)
        names = list(named)
        expressions.update({f"{name}_{i}": expression for name, expression in named.items()})
    row = queryset.filter(**{f"{field}__gte": whole.start, f"{field}__lt": whole.end}).aggregate(**expressions)
    return [{name: row[f"{name}_{i}"] for name in names} for i in range(len(windows))]


def per_day(queryset, *, field: str, windows: list[Window], aggregates) -> list[dict]:
    """ONE query grouped by the UTC day of `field`, for windows that are each one whole UTC day.

    A day with no rows reads as the aggregates read over no rows (counts 0, sums and averages None), as
    in the conditional query.
    """
    day = TruncDay(field, tzinfo=UTC)
    named = aggregates(Q(), Window(start=day, end=day + DAY))
    whole = span(windows)
    rows = (queryset.filter(**{f"{field}__gte": whole.start, f"{field}__lt": whole.end})
            .annotate(_day=day).order_by().values("_day")
            .annotate(**{f"_{name}": expression for name, expression in named.items()}))  # never a field's name
    found = {row["_day"]: {name: row[f"_{name}"] for name in named} for row in rows}
    empty = {name: _over_no_rows(expression) for name, expression in named.items()}
    return [dict(found.get(w.start, empty)) for w in windows]


def _over_no_rows(aggregate):
    """What an aggregate gives over no rows: 0 for counts, its default or None otherwise."""
    default = getattr(aggregate, "default", None)
    return aggregate.empty_result_set_value if default is None else default
