"""Loaded with `-p` before Django starts: the test environment's defaults.

Tests run with DEBUG off, like production, with a throwaway secret key.
A real environment variable always wins.
"""

import os

# The suite never reads a developer's local `.env` (`make run` writes one with DEBUG on; someone may add
# an API key or a DATABASE_URL to it): only the environment of the test run counts, as in CI.
os.environ["AUTONOMAX_ENV_FILE"] = ""
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
os.environ.setdefault("AUTONOMAX_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
# Failed token checks are counted per address in the shared cache; the suite's many deliberate 401s
# from 127.0.0.1 must not lock out the tests after them (tests/core/test_login_lockout.py sets it).
os.environ.setdefault("API_TOKEN_FAILURE_LIMIT", "1000000")
# Unit tests run Celery tasks inline; the integration tests start a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
# Tests never reach real providers: hosted AI keys from the developer's shell are ignored.
for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY", "OLLAMA_BASE_URL", "SLACK_WEBHOOK_URL",
            "STRIPE_SECRET_KEY", "SENTRY_DSN"):
    os.environ.pop(key, None)
# A throwaway Fernet key for the secrets of per-company connections (base64 of 32 zero characters).
os.environ.setdefault("CONNECTIONS_ENCRYPTION_KEYS", "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=")
