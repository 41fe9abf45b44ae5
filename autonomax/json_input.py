"""The one reader of JSON request bodies (API and webhooks): strict, bounded, with the reason named.

A body is refused with 400 (code `parse_error` in the API, `invalid_json` at the webhooks, as before)
when it is not UTF-8 JSON, when its top level is not an object, when it holds `NaN`/`Infinity` (or a
number too large for a float), a `\\u0000` or a lone surrogate in a string (PostgreSQL cannot store
them in text or jsonb), or nesting deeper than `MAX_DEPTH`. `details.reason` says which, because a
sender retrying the same body can never succeed.
"""

import json
import re

from .errors import AppError

MAX_DEPTH = 64
# NUL, and lone UTF-16 surrogates ("\ud800"): valid JSON escapes that no UTF-8 text column can store.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONInputError(AppError):
    status = 400

    def __init__(self, reason: str, message: str, *, code: str = "invalid_json"):
        super().__init__(f"Body is not acceptable JSON: {message}", code=code, details={"reason": reason})


def _no_constant(name: str):
    raise JSONInputError("non_finite_number", f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONInputError("non_finite_number", f"{text[:40]} is too large for a number.")
    return value


def _check(value) -> None:
    """Depth and NUL characters, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise JSONInputError("too_deep", f"nesting is deeper than {MAX_DEPTH} levels.")
            for key, child in node.items():
                if _UNSTORABLE.search(key):
                    _unstorable(key)
                if isinstance(child, (dict, list, str)):
                    stack.append((child, depth + 1))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise JSONInputError("too_deep", f"nesting is deeper than {MAX_DEPTH} levels.")
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list, str)))
        elif _UNSTORABLE.search(node):
            _unstorable(node)


def _unstorable(text: str):
    if "\x00" in text:
        raise JSONInputError("nul_character", "a string contains the character \\u0000.")
    raise JSONInputError("lone_surrogate", "a string contains a lone UTF-16 surrogate (\\ud800-\\udfff).")


def json_object_loads(raw: bytes | str, *, code: str = "invalid_json") -> dict:
    """Parse a request body that must be a JSON object; raises JSONInputError (with `code`) naming the reason."""
    try:
        return _loads(raw)
    except JSONInputError as exc:
        if code != exc.code:
            exc.code = code
        raise


def _loads(raw: bytes | str) -> dict:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONInputError("not_utf8", "the body is not UTF-8 text.") from None
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("too_deep", f"nesting is deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise JSONInputError("syntax", str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise JSONInputError("not_an_object", f"the top level must be an object, not {_kind(value)}.")
    _check(value)
    return value


def _kind(value) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
