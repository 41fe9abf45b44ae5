"""API pagination: limit/offset with a ceiling, the page and its total count in one query."""

from django.db.models import Func, IntegerField, QuerySet, Subquery, Value
from django.db.models.query import ModelIterable, ValuesIterable
from rest_framework.pagination import LimitOffsetPagination

TOTAL = "_pagination_total"
# Offsets past this are past the end of any table; beyond a 64-bit integer they would reach the database as an error.
MAX_OFFSET = 2**62


class CappedLimitOffsetPagination(LimitOffsetPagination):
    # Without a ceiling a huge ?limit= reaches the database (a 500 on SQLite, a full table read elsewhere).
    max_limit = 500

    def paginate_queryset(self, queryset, request, view=None):
        """The page with the total count as an uncorrelated scalar subquery (the database computes it once):
        one round trip instead of COUNT then SELECT. An empty page (no rows, or an offset past the end)
        brings no count: then it is counted alone. The response is the same as LimitOffsetPagination's."""
        if not _countable_with_its_page(queryset):
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        if self.offset > MAX_OFFSET:
            self.count = self.get_count(queryset)
            return []
        count = Func(Value(1), function="COUNT", output_field=IntegerField())  # not an aggregate: no GROUP BY
        total = Subquery(queryset.order_by().annotate(**{TOTAL: count}).values(TOTAL))
        page = list(queryset.annotate(**{TOTAL: total})[self.offset:self.offset + self.limit])
        totals = [row.pop(TOTAL) if isinstance(row, dict) else vars(row).pop(TOTAL) for row in page]
        self.count = totals[0] if page else self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return page


def _countable_with_its_page(queryset) -> bool:
    """Plain filtered rows (models or `.values()` dicts): no DISTINCT, grouping, UNION or slice, whose count
    would differ from a COUNT over the same FROM and WHERE."""
    if not isinstance(queryset, QuerySet) or queryset._iterable_class not in (ModelIterable, ValuesIterable):
        return False
    query = queryset.query
    return not (query.distinct or query.group_by or query.combinator or query.is_sliced)
