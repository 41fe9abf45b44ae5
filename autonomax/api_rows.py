"""Fast list responses for serializers of a fixed shape: the serializer stays the one definition of each
field and its format (and of the schema), but a list is rendered from `.values()` rows, without building a
model instance and walking DRF's field machinery per row and per field.

`Rows(SomeModelSerializer)` knows the serializer's plain fields (model columns, no nesting, no method
fields): `columns(prefix)` are the names to ask `.values()` for, `render(row, prefix)` gives the dict the
serializer would have given (`render_many(rows, prefix)` for a list). Nested parts are put together by the
view, from their own `Rows`.
"""

from datetime import datetime
from functools import cached_property, partial

from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

# Fields whose representation is the column's value itself.
_PLAIN = (serializers.CharField, serializers.IntegerField, serializers.BooleanField, serializers.FloatField,
          serializers.UUIDField, serializers.ChoiceField, serializers.JSONField, serializers.PrimaryKeyRelatedField,
          serializers.ReadOnlyField, serializers.EmailField, serializers.SlugField)


class Rows:
    def __init__(self, serializer_class, *, exclude=()):
        self.serializer_class = serializer_class
        self.exclude = set(exclude)

    @cached_property
    def _fields(self) -> list[tuple[str, str, object]]:
        """(output name, column, formatter or None) for each plain field, in the serializer's order."""
        found = []
        for name, field in self.serializer_class().fields.items():
            if name in self.exclude:
                continue
            if isinstance(field, (serializers.BaseSerializer, serializers.SerializerMethodField)):
                raise TypeError(f"{self.serializer_class.__name__}.{name} is not a plain field: exclude it and "
                                "render it in the view")
            column = field.source.replace(".", "__")
            if isinstance(field, serializers.UUIDField):
                found.append((name, column, str))
            elif (type(field) is serializers.DateTimeField and not hasattr(field, "format")
                  and not hasattr(field, "timezone") and api_settings.DATETIME_FORMAT == "iso-8601"):
                found.append((name, column, _iso_datetime))
            elif isinstance(field, _PLAIN) and not isinstance(field, serializers.MultipleChoiceField):
                found.append((name, column, None))
            else:  # decimals, dates and times: the field's own format
                found.append((name, column, field.to_representation))
        return found

    def columns(self, prefix: str = "") -> list[str]:
        return [prefix + column for _, column, _ in self._fields]

    def render(self, row: dict, prefix: str = "") -> dict:
        return self.render_many([row], prefix)[0]

    def render_many(self, rows, prefix: str = "") -> list[dict]:
        """`render` of each row. The current time zone is read once for all of them (a context-local read
        per datetime value was 40% of the time of a list)."""
        tz = timezone.get_current_timezone()
        fields = [(name, prefix + column, partial(_iso_datetime, tz=tz) if formatter is _iso_datetime else formatter)
                  for name, column, formatter in self._fields]
        rendered = []
        for row in rows:
            result = {}
            for name, column, formatter in fields:
                value = row[column]
                result[name] = value if formatter is None or value is None else formatter(value)
            rendered.append(result)
        return rendered


def _iso_datetime(value: datetime, *, tz) -> str:
    """What DRF's DateTimeField gives for an aware datetime in the current time zone `tz`, without its
    per-call settings look-ups."""
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
