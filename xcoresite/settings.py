"""The only settings module. Everything that differs between machines comes from the
environment (read once, here); the defaults run the whole system with no server at all:
SQLite, kombu's filesystem broker, database leases."""

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets code name the type parameters of Django's generic classes (ModelAdmin[Connection],
# ModelForm[...], TextField[str, str]) at run time, as the type checker wants them named.
django_stubs_ext.monkeypatch()

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("XCORESITE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------------------
# DEBUG is for development only (`make run` sets it): its error pages show code and locals.
DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    # Sessions, password resets and the development encryption key derive from it.
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: set it to a long random value (e.g. python -c "
        '"import secrets; print(secrets.token_urlsafe(50))"), or DEBUG=true for development only.'
    )
# Error reports (the DEBUG page, mails to ADMINS) mask settings and locals holding secrets,
# including URLs with credentials and webhook URLs (their path is the token).
DEFAULT_EXCEPTION_REPORTER_FILTER = "xcoresite.errorfilter.SecretMaskingFilter"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Every process refuses to start on a failing system check (xcoresite/startup_checks.py);
# a check id listed here is skipped, e.g. a fault test that needs the misconfiguration.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
ROOT_URLCONF = "xcoresite.urls"
WSGI_APPLICATION = "xcoresite.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",  # the HTTP API (syncers.api)
    "drf_spectacular",  # its OpenAPI schema at /api/schema/
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "gateway",
    "syncers",
    "catalog",  # the demo app the demo client loads into (docs/concepts/destinations.md)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
            ]
        },
    }
]

# --- Database ---------------------------------------------------------------------------
# SQLite is shared by web, worker and beat processes: WAL plus IMMEDIATE transactions and a
# busy timeout are what kept concurrent writers from failing with "database is locked".
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Worker processes must see the test database, so it cannot live in memory.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Cache, leases and rate limits ------------------------------------------------------
# With REDIS_URL set, leases live in Redis; without it they live in the database, which
# still works across processes (and machines sharing a PostgreSQL database).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Locks must see Redis outages as errors, never as "already locked".
            "OPTIONS": {"IGNORE_EXCEPTIONS": False},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control", "staging"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "staging_folder": str(BROKER_DIR / "staging"),
        "store_processed": False,
        # kombu's 1 s default caps a prefetch-1 worker at about two tasks a second.
        "polling_interval": 0.1,
    }
    # Atomic message writes: stock filesystem transport lets a consumer read half-written files.
    CELERY_BROKER_TRANSPORT = "xcoresite.brokerfs:Transport"
else:
    # Redis/SQS re-deliver an unacked message after this; every task limit stays below it
    # (enforced by the syncers.E001 system check).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_RESULT_BACKEND = None
# No result backend, so no stored results to expire: without this, beat would install (and the
# Periodic tasks admin list) a nightly `celery.backend_cleanup` that has nothing to clean.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
# Our DatabaseScheduler subclass: keeps up with 10,000+ schedules (see syncers/schedules/beat.py).
# Celery's Django fixup closes every database connection after every task unless this is set;
# reconnecting (a new PostgreSQL backend with cold caches) cost more CPU than most batch loads.
# Connections are still recycled by CONN_MAX_AGE and checked before each task (syncers.tasks).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BEAT_SCHEDULER = "syncers.schedules.beat:SyncScheduler"

# --- Sync engine ------------------------------------------------------------------------
SYNC_DEFAULT_QUEUE = env.str("SYNC_DEFAULT_QUEUE", default="sync")
SYNC_DEFAULT_BATCH_SIZE = env.int("SYNC_DEFAULT_BATCH_SIZE", default=500)
# A lease outlives a silent holder by at most this; the holder renews it every third.
SYNC_LEASE_TTL = env.float("SYNC_LEASE_TTL", default=120.0)
# Batches staged but not loaded after this long are sent again by the reconciler.
SYNC_REDISPATCH_AFTER = env.float("SYNC_REDISPATCH_AFTER", default=60.0)
SYNC_RECONCILE_EVERY = env.float("SYNC_RECONCILE_EVERY", default=30.0)
# PostgreSQL ends a pipeline transaction idle for longer than this (a frozen or hung worker),
# releasing its locks; no healthy step waits that long between two statements.
SYNC_IDLE_TRANSACTION_TIMEOUT = env.float("SYNC_IDLE_TRANSACTION_TIMEOUT", default=300.0)
FAKEAPI_URL = env.str("FAKEAPI_URL", default="http://127.0.0.1:8765")
# A YAML declaration applied by `manage.py sync_apply` with no argument (e.g. at deploy time).
SYNC_CONFIG_FILE = env.str("SYNC_CONFIG_FILE", default="")
# Pause after transient failures: seconds at error level 1, 2, ... (the last repeats).
SYNC_PAUSE_DURATIONS = [
    int(s) for s in env.list("SYNC_PAUSE_DURATIONS", default=["60", "300", "900", "3600", "10800"])
]
SYNC_MAX_FAILURES = env.int("SYNC_MAX_FAILURES", default=10)
# A record whose JSON text is larger than this is kept in failed records, not stored.
SYNC_MAX_RECORD_BYTES = env.int("SYNC_MAX_RECORD_BYTES", default=1024 * 1024)

# --- Notifications ----------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="xcoresite@localhost")
# Level → addresses; each address gets that level and above, e.g. "error=oncall@x.io;warning=team@x.io".
SYNC_NOTIFY_EMAILS = {
    level.strip(): [a.strip() for a in addrs.split(",") if a.strip()]
    for level, _, addrs in (
        item.partition("=") for item in env.str("SYNC_NOTIFY_EMAILS", default="").split(";") if item
    )
}
SYNC_NOTIFY_CHANNELS = env.list(
    "SYNC_NOTIFY_CHANNELS",
    default=["syncers.alerts.notify.EmailChannel", "syncers.alerts.notify.WebhookChannel"],
)
# "url" (every level) or "url>warning" (that level and above), comma-separated.
SYNC_NOTIFY_WEBHOOKS = [
    (url, minimum or "notice")
    for url, _, minimum in (item.partition(">") for item in env.list("SYNC_NOTIFY_WEBHOOKS", default=[]))
]
SYNC_NOTIFY_WEBHOOK_FORMAT = env.str("SYNC_NOTIFY_WEBHOOK_FORMAT", default="json")
SYNC_NOTIFY_THROTTLE = env.int("SYNC_NOTIFY_THROTTLE", default=3600)

CELERY_BEAT_SCHEDULE = {
    "syncers-reconcile": {
        "task": "syncers.reconcile",
        "schedule": SYNC_RECONCILE_EVERY,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    }
}

# --- Inbound webhooks and metrics ---------------------------------------------------------
# Largest body accepted by POST /hooks/<client>/.
SYNC_HOOK_MAX_BYTES = env.int("SYNC_HOOK_MAX_BYTES", default=2 * 1024 * 1024)  # under Django's 2.5 MB
# A signed delivery's timestamp may differ from our clock by at most this many seconds; within
# it, an exact replay is refused by its remembered signature.
SYNC_HOOK_TOLERANCE = env.int("SYNC_HOOK_TOLERANCE", default=300)
# Prometheus metrics at /metrics; with a token, scrapers send "Authorization: Bearer <token>".
SYNC_METRICS_ENABLED = env.bool("SYNC_METRICS_ENABLED", default=False)
SYNC_METRICS_TOKEN = env.str("SYNC_METRICS_TOKEN", default="")

# --- HTTP API (syncers.api; docs/concepts/http-api.md) -------------------------------------------
# Bearer tokens (sync_api_token) for scripts, the admin's session for the docs page; JSON only;
# every refusal is a JSON error naming the field (syncers.api.errors).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "syncers.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["syncers.api.auth.StaffOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "syncers.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "xcoresite sync API",
    "DESCRIPTION": "Run, watch, pause and resume sync clients: the admin's operator verbs over HTTP.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["syncers.api.auth.StaffOnly"],  # schema and docs: staff, as the admin
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging ----------------------------------------------------------------------------
# LOG_FORMAT=json writes one JSON object per line with client, run, batch and page ids.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
SYNC_LOG_LEVEL = env.str("SYNC_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"sync_context": {"()": "syncers.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "syncers.logcontext.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["sync_context"],
        }
    },
    # One handler, on the root logger: a Celery worker then finds root configured and adds
    # none of its own (CELERY_WORKER_HIJACK_ROOT_LOGGER is off), so each line is written once,
    # in this format; the product's loggers only set their level and propagate.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "syncers": {"level": SYNC_LOG_LEVEL},
        "gateway": {"level": SYNC_LOG_LEVEL},
        "django": {"handlers": [], "level": "INFO"},  # Django's own console handler would repeat them
    },
}

# --- Gateway (outgoing HTTP: credentials at rest, network policy) -----------------------
# Fernet keys, comma-separated, newest first: the first encrypts connection secrets, any of
# them decrypts (add a new key in front, run `manage.py rotate_keys`, then drop the old one).
# Empty: DEBUG runs derive a development key from SECRET_KEY; otherwise check gateway.E001
# refuses to start.
GATEWAY_ENCRYPTION_KEYS = env.list("GATEWAY_ENCRYPTION_KEYS", default=[])
GATEWAY_DERIVE_DEV_KEY = DEBUG and not GATEWAY_ENCRYPTION_KEYS
# Hosts (names, IPs or CIDR networks) exempt from the SSRF guard's refusal of loopback,
# private, link-local and similar addresses. Development allows the bundled fake API.
GATEWAY_ALLOWED_HOSTS = env.list("GATEWAY_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
# Proxies and .netrc from the environment are ignored unless this is set.
GATEWAY_TRUST_ENV = env.bool("GATEWAY_TRUST_ENV", default=False)
# A Retry-After up to this many seconds is slept through; a longer one is raised to the caller
# (TransientError.retry_after) so the client pauses instead of a worker sleeping.
GATEWAY_RETRY_AFTER_CAP = env.float("GATEWAY_RETRY_AFTER_CAP", default=30.0)
# Longest wait for a rate-limit slot before giving up with a TransientError (retry_after set).
GATEWAY_RATE_LIMIT_MAX_WAIT = env.float("GATEWAY_RATE_LIMIT_MAX_WAIT", default=30.0)
