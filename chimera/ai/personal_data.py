"""The AI call log holds no personal data: prompts are redacted before any provider sees them and the log
keeps only a SHA-256 of the redacted prompt, never its text."""

from autonomax.privacy import register


def export(company, person) -> dict:
    return {}


def erase(company, person) -> dict:
    return {}


register("chimera.ai", models=(), export=export, erase=erase,
         note="AI calls store no prompt or answer text, only a hash of the redacted prompt.")
