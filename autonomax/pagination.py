"""API pagination: limit/offset with a ceiling."""

from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    # Without a ceiling a huge ?limit= reaches the database (a 500 on SQLite, a full table read elsewhere).
    max_limit = 500
