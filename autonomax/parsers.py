"""The API's JSON parser: the one strict reader (autonomax.json_input), so every JSON entry point refuses the
same bad bodies (arrays at the top, NaN, \\u0000, deep nesting) with 400 and the reason."""

from django.conf import settings
from rest_framework.parsers import JSONParser

from .json_input import JSONInputError, json_object_loads


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if stream is not None else b""
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise JSONInputError("too_large", "the body is larger than DJANGO_MAX_BODY_BYTES.", code="parse_error")
        return json_object_loads(raw, code="parse_error")  # DRF's code for a body it cannot read, kept
