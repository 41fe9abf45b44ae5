"""PII redaction before a prompt leaves for a hosted provider, and the profanity filter on answers.

Redaction swaps each email, phone number, card number and IBAN for a numbered
placeholder ([EMAIL_1], [PHONE_1], ...), and puts the originals back where the
placeholders come back in the answer. It fails closed: if anything goes wrong,
or a second scan still finds PII, RedactionError is raised and nothing is sent.
"""

import re
from dataclasses import dataclass, field

from .errors import RedactionError

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# IBAN: country code, 2 check digits, 11-30 alphanumerics, optionally in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
# Card: 13-19 digits, optionally separated by spaces or dashes; confirmed with the Luhn check.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Phone: optional +country, 7-15 digits with spaces, dots, dashes or brackets between groups.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])")

# Dates (2026-11-21, 21.11.2026) and amounts with thousands separators (12.500.000) look like phones.
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[.-]\d{2}[.-]\d{4}|\d{1,3}(?:[.,]\d{3})+")

_KINDS = (("email", _EMAIL), ("iban", _IBAN), ("card", _CARD), ("phone", _PHONE))


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    iban = text.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _is_pii(kind: str, text: str) -> bool:
    if kind == "card":
        return _luhn_ok(re.sub(r"\D", "", text))
    if kind == "iban":
        return _iban_ok(text)
    if kind == "phone":
        if _NOT_PHONE.fullmatch(text):
            return False
        digits = re.sub(r"\D", "", text)
        # Years, prices and short numbers are not phone numbers.
        return 7 <= len(digits) <= 15 and (text.startswith("+") or len(digits) >= 9 or "(" in text
                                           or bool(re.search(r"[ .-]", text)))
    return True


@dataclass
class Redaction:
    text: str
    placeholders: dict[str, str] = field(default_factory=dict)  # placeholder -> original

    @property
    def count(self) -> int:
        return len(self.placeholders)

    def restore(self, answer: str) -> str:
        """Put the originals back wherever their placeholders came back in the answer."""
        if not self.placeholders:
            return answer
        return re.sub(r"\[(?:EMAIL|PHONE|CARD|IBAN)_\d+\]",
                      lambda m: self.placeholders.get(m.group(0), m.group(0)), answer)


def pii_find(text: str, *, kinds) -> list[tuple[str, str]]:
    """(kind, matched text) for each piece of PII of the given kinds in `text`."""
    found = []
    for kind, pattern in _KINDS:
        if kind in kinds:
            found.extend((kind, m.group(0)) for m in pattern.finditer(text) if _is_pii(kind, m.group(0)))
    return found


def pii_redact(text: str, *, kinds, placeholders: dict[str, str] | None = None) -> Redaction:
    """Replace PII with placeholders; `placeholders` lets several texts of one call share numbering."""
    try:
        placeholders = {} if placeholders is None else placeholders
        by_value = {v: k for k, v in placeholders.items()}
        counters: dict[str, int] = {}
        for existing in placeholders:
            kind = existing[1:].split("_")[0]
            counters[kind] = max(counters.get(kind, 0), int(existing[1:-1].split("_")[1]))

        def swap(kind: str, match: re.Match) -> str:
            value = match.group(0)
            if not _is_pii(kind, value):
                return value
            if value not in by_value:
                counters[kind.upper()] = counters.get(kind.upper(), 0) + 1
                placeholder = f"[{kind.upper()}_{counters[kind.upper()]}]"
                placeholders[placeholder] = value
                by_value[value] = placeholder
            return by_value[value]

        redacted = text
        for kind, pattern in _KINDS:
            if kind in kinds:
                redacted = pattern.sub(lambda m, kind=kind: swap(kind, m), redacted)
        left = pii_find(redacted, kinds=kinds)
    except Exception as exc:  # noqa: BLE001 - any failure must stop the prompt from leaving
        raise RedactionError(f"PII redaction failed, nothing was sent: {type(exc).__name__}") from exc
    if left:
        raise RedactionError(f"PII redaction left {len(left)} item(s) of kind(s) "
                             f"{sorted({k for k, _ in left})} in the prompt, nothing was sent")
    return Redaction(text=redacted, placeholders=placeholders)


# A short built-in list (whole words, case-insensitive); models.yml policies.profanity_words adds more.
_PROFANITY = frozenset({
    "fuck", "fucking", "fucked", "shit", "shitty", "bullshit", "bitch", "bastard", "asshole", "dick",
    "cunt", "motherfucker", "piss", "pissed", "crap", "damn", "wanker", "bollocks", "prick", "twat",
})


def profanity_mask(text: str, *, extra_words=frozenset()) -> tuple[str, int]:
    """Mask profane whole words as f***; returns the text and how many were masked."""
    words = _PROFANITY | set(extra_words)
    count = 0

    def mask(match: re.Match) -> str:
        nonlocal count
        word = match.group(0)
        if word.lower() not in words:
            return word
        count += 1
        return word[0] + "*" * (len(word) - 1)

    return re.sub(r"[A-Za-z]+", mask, text), count
