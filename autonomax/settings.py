"""One settings module for every environment.

Every difference between the embedded default (`make run`: SQLite, Celery
filesystem transport) and production (PostgreSQL, Redis) is an environment
variable with a safe default. The table of variables is in the README and
`.env.example`.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

BASE_DIR = Path(__file__).resolve().parent.parent

# A local `.env` (`make run` writes one with development settings; never committed) fills in only
# what the environment leaves unset: a real environment variable always wins. AUTONOMAX_ENV_FILE
# names another file; empty reads none (the test suite sets it so, see tests/environment.py).
ENV_FILE = os.environ.get("AUTONOMAX_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)
elif ENV_FILE and "AUTONOMAX_ENV_FILE" in os.environ:
    raise ImproperlyConfigured(f"AUTONOMAX_ENV_FILE names {ENV_FILE}, which is not a file.")
env = environ.Env()
VAR_DIR = Path(env.str("AUTONOMAX_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (a long random string) or run "
            "with DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DJANGO_DEBUG"

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",  # the staff admin's theme (sidebar, filters); must come before django.contrib.admin
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, not a CDN
    "django_celery_beat",
    "django_htmx",
    "waffle",
    "autonomax",
    "kpis",
    "chimera.ai",
    "chimera.commander",
    "commerce",
    "growth",
    "support",
    "customers",
    "demo",  # wiring level: knows every app (the shop simulator)
    "axes",  # login lockout (after the apps whose templates override its lockout page)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers the lockout page once a login is locked out
]

ROOT_URLCONF = "autonomax.urls"
WSGI_APPLICATION = "autonomax.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "autonomax.tenancy.company_context",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# Embedded default: one SQLite file shared by the web process and the worker.
# WAL + IMMEDIATE transactions + a busy timeout keep concurrent writers from
# failing with "database is locked".

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a Celery worker process in the integration tests shares it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # A persistent connection is checked (`SELECT 1`) before its first query in each request: one more round
    # trip and transaction per request (pg_stat_database shows 2 commits per webhook instead of 1); off, a
    # connection the server dropped fails that one request (500) and is replaced for the next.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Login lockout (django-axes) on /accounts/login/ and /admin/login/: after AXES_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair is refused (429) for AXES_COOLOFF_MINUTES;
# a correct login resets the count. `manage.py axes_reset` lifts every lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "autonomax.security.client_ip"
AXES_VERBOSE = False
# Behind N reverse proxies (Heroku's router: 1) the client is the Nth address from the right of
# X-Forwarded-For; 0 trusts only REMOTE_ADDR. Used by the login lockout and the token throttle.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
# Failed API token checks per client address: after this many in the window, 429 until it ends.
API_TOKEN_FAILURE_LIMIT = env.int("API_TOKEN_FAILURE_LIMIT", default=10)
API_TOKEN_FAILURE_WINDOW = env.int("API_TOKEN_FAILURE_WINDOW_SECONDS", default=300)

# --- I18N -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default="") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Tests and `make run` serve static files without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG or env.bool("WHITENOISE_USE_FINDERS", default=False)
if WHITENOISE_USE_FINDERS:
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

# --- Security -----------------------------------------------------------------
# Production fails closed: HTTPS everywhere unless explicitly turned off
# (the embedded default runs with DJANGO_DEBUG=1 over plain HTTP).

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Webhook and API bodies above this size are refused with 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_BODY_BYTES", default=1024 * 1024)

# --- API ------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "autonomax.authentication.APITokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["autonomax.tenancy.IsCompanyMember"],
    "DEFAULT_PAGINATION_CLASS": "autonomax.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "autonomax.throttling.AnonRateThrottle",
        "autonomax.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "autonomax.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # JSON through the one strict reader (autonomax.json_input); forms as DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "autonomax.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AutonomaX Profit OS API",
    "DESCRIPTION": "Data → decision → execution → evidence. Every query is scoped to the caller's company.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "autonomax.openapi.error_responses"],
    # Several models have a `kind` with their own choices: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "ProductKindEnum": "commerce.models.Product.Kind",
        "DiscountKindEnum": "commerce.models.Discount.Kind",
        "TicketChannelEnum": "support.models.Ticket.Channel",
        "TicketStatusEnum": "support.models.Ticket.Status",
    },
}

# --- Cache ------------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}

# --- Celery -----------------------------------------------------------------------
# Broker: CELERY_BROKER_URL, else REDIS_URL, else the filesystem transport
# under var/ (the embedded default: no broker server needed).

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
CELERY_FILESYSTEM_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL == "filesystem://":
    for sub in ("in", "processed"):
        (CELERY_FILESYSTEM_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "in"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "in"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),  # not ./control in the working directory
        "store_processed": False,
    }
else:
    # Longer than the longest countdown/ETA we schedule (retry backoff caps at
    # 10 minutes, evidence measurement is its own beat task), so Redis never
    # redelivers a task that is still waiting for its time.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ["webhooks", "ai", "email", "default"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = env.str(
    "CELERY_BEAT_SCHEDULER",
    default="celery.beat:PersistentScheduler"
    if CELERY_BROKER_URL == "filesystem://"
    else "django_celery_beat.schedulers:DatabaseScheduler",
)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Apps add their periodic tasks here (see each app's `beat_schedule`).
CELERY_BEAT_SCHEDULE: dict = {}
# The recovery sweep (every 2 minutes) re-enqueues webhook events still `received` this long after they were
# stored, and download emails unsent this long: the work a crashed worker lost.
RECOVERY_STALE_SECONDS = env.int("RECOVERY_STALE_SECONDS", default=180)

# --- Email --------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
# Seconds an SMTP send may block; a download email's sender holds its lease (RECOVERY_STALE_SECONDS) longer.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AutonomaX <no-reply@autonomax.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Integrations (each on when its variable is set) --------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # tests point this at a local server
SHOPIFY_API_SECRET = env.str("SHOPIFY_API_SECRET", default="")
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-07")
# Fernet keys that encrypt the secrets of per-company connections (/settings/connections/), comma-separated:
# the first encrypts, all decrypt (rotation). Required to save a connection unless debugging, where a key
# derived from SECRET_KEY is used.
CONNECTIONS_ENCRYPTION_KEYS = env.list("CONNECTIONS_ENCRYPTION_KEYS", default=[])
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
GEMINI_API_KEY = env.str("GEMINI_API_KEY", default="")
GROQ_API_KEY = env.str("GROQ_API_KEY", default="")
OLLAMA_BASE_URL = env.str("OLLAMA_BASE_URL", default="")
AUTONOMAX_MODELS_FILE = env.str("AUTONOMAX_MODELS_FILE", default=str(BASE_DIR / "configs" / "models.yml"))
AUTONOMAX_CONFIG_DIR = env.str("AUTONOMAX_CONFIG_DIR", default=str(BASE_DIR / "configs"))
SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Which play policy ranks the suggested missions: learn (Thompson sampling over the evidence), static
# (playbook priors only), random, oracle (the simulator's known effects) or none (suggest nothing).
COMMANDER_POLICY = env.str("COMMANDER_POLICY", default="learn")
if COMMANDER_POLICY not in ("learn", "static", "none", "random", "oracle"):
    raise ImproperlyConfigured(f"COMMANDER_POLICY must be learn, static, none, random or oracle, "
                               f"not {COMMANDER_POLICY!r}")

# --- Customer intelligence and personal data ---
# Raw webhook bodies older than this many days are purged nightly (a company can set its own).
PERSONAL_DATA_RETENTION_DAYS = env.int("PERSONAL_DATA_RETENTION_DAYS", default=90)
# Churn / lifetime value are fitted only with at least this many buying and repeat customers.
CLV_MIN_CUSTOMERS = env.int("CLV_MIN_CUSTOMERS", default=50)
CLV_MIN_REPEAT_CUSTOMERS = env.int("CLV_MIN_REPEAT_CUSTOMERS", default=10)

# --- Staff admin theme (django-unfold) ---
UNFOLD = {
    "SITE_TITLE": "AutonomaX",
    "SITE_HEADER": "AutonomaX Profit OS",
    "SITE_URL": "/",
    "SHOW_HISTORY": True,
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("favicon.svg")}],
    "SIDEBAR": {"show_search": True, "show_all_applications": True},
}

# --- Commerce: Shopify Admin API base (tests/bench point it at a local server; empty = https://<shop>) ---
SHOPIFY_API_BASE = env.str("SHOPIFY_API_BASE", default="")

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    try:
        import sentry_sdk
    except ImportError as exc:  # on without its library: fail loudly
        raise ImproperlyConfigured("SENTRY_DSN is set but sentry-sdk is not installed") from exc
    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False)

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Support (issue 14): intake limits and the inbound-email webhook -------------------------

SUPPORT_MAX_BODY_CHARS = env.int("SUPPORT_MAX_BODY_CHARS", default=50_000)  # longer: stored truncated, flagged
SUPPORT_MAX_ATTACHMENT_BYTES = env.int("SUPPORT_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024)
SUPPORT_MAX_ATTACHMENTS = env.int("SUPPORT_MAX_ATTACHMENTS", default=10)
# Knowledge-base ranking: "auto" (embeddings when requirements-embeddings.txt is installed, else full text),
# "embeddings" (the same) or "fulltext".
SUPPORT_RETRIEVAL = env.str("SUPPORT_RETRIEVAL", default="auto")
# Shared secret of POST /webhooks/email/ (X-AutonomaX-Signature: sha256=<hex HMAC of the body>); empty: off.
SUPPORT_EMAIL_WEBHOOK_SECRET = env.str("SUPPORT_EMAIL_WEBHOOK_SECRET", default="")
# django-anymail's inbound webhooks (Postmark at /webhooks/email/postmark/inbound/): basic-auth "user:password".
ANYMAIL = {"WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="")}
# Sending through Postmark's API (django-anymail) instead of EMAIL_URL: the provider's message ids and our
# metadata come back in its tracking webhook (/webhooks/email/postmark/tracking/), so bounces and complaints
# find their campaign.
POSTMARK_SERVER_TOKEN = env.str("POSTMARK_SERVER_TOKEN", default="")
if POSTMARK_SERVER_TOKEN:
    EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    ANYMAIL["POSTMARK_SERVER_TOKEN"] = POSTMARK_SERVER_TOKEN
SUPPORT_EMAIL_MAX_BYTES = env.int("SUPPORT_EMAIL_MAX_BYTES", default=25 * 1024 * 1024)  # one inbound email
