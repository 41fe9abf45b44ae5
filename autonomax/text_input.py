"""Plain text fields at the edge: control characters are refused (422) with the field named."""

import re

from .errors import AppError

# C0 and C1 control characters (tab, newline and carriage return included: these are one-line fields).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def control_characters_refuse(values: dict) -> None:
    """Raise AppError 422 `control_characters` naming every field (`keywords[1]`) whose text holds one."""
    found = {}
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        for index, item in enumerate(items):
            match = _CONTROL.search(item) if isinstance(item, str) else None
            if match:
                where = f"{name}[{index}]" if isinstance(value, (list, tuple)) else name
                found[where] = f"contains the control character U+{ord(match.group()):04X}"
    if found:
        raise AppError("Text fields may not contain control characters.", code="control_characters", status=422,
                       details=found)
