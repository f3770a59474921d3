"""Tickwork settings: one module, every value from the environment (see .env.example)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from project import env
from project.devstack import embedded
from project.env import SettingError

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ

DEBUG = env.boolean("DEBUG", ENV, default=False)

SECRET_KEY = ENV.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise SettingError("SECRET_KEY", "must be set when DEBUG is off")
    # A per-process random key: sessions do not survive a restart, and nothing secret is in git.
    SECRET_KEY = os.urandom(32).hex()

ALLOWED_HOSTS = [h.strip() for h in ENV.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in ENV.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
PORT = env.integer("PORT", ENV, default=8000, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "marketdata",
    "strategies",
    "tasks",
    # Last: its AppConfig checks the middleware and backends above.
    "axes",
]

MIDDLEWARE = [
    # First: it sees every response under /api/, Django's own error pages included.
    "project.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a lockout raised by its backend into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database and broker -------------------------------------------------------------------
# Unset, with DEBUG on, they point at the embedded stack that `make run` starts under var/.
env.required_unless_debug(("DATABASE_URL", "REDIS_URL"), ENV, debug=DEBUG)
DATABASES = {
    "default": env.database(
        "DATABASE_URL", ENV.get("DATABASE_URL") or embedded.local_database_url()
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REDIS_URL = env.redis_url("REDIS_URL", ENV.get("REDIS_URL") or embedded.local_redis_url())
# The cache (API throttling, beat's heartbeat) shares the broker's Redis, under its own prefix.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tickwork",
    }
}

# --- Scheduler -----------------------------------------------------------------------------
SCHEDULER_BACKEND_NAME = ENV.get("SCHEDULER_BACKEND", "celery").strip().lower()
SCHEDULER_BACKEND = env.scheduler_backend("SCHEDULER_BACKEND", SCHEDULER_BACKEND_NAME)
# Called with `scheduler=` when a scheduler starts (beat, or the APScheduler leader).
SCHEDULER_STARTUP_HOOKS = ["strategies.reconcile.strategy_jobs_reconcile"]
# A tick later than this (no beat ran) is missed: coalesced or skipped by the job's policy.
SCHEDULER_MISFIRE_GRACE_SECONDS = env.integer("SCHEDULER_MISFIRE_GRACE_SECONDS", ENV, 60, minimum=1)
# Our beat: due jobs claimed per transaction; a beat silent this long is not live; another
# beat publishes a committed firing left unpublished this long (its beat died).
BEAT_CLAIM_BATCH = env.integer("BEAT_CLAIM_BATCH", ENV, 1000, minimum=1)
BEAT_LIVE_SECONDS = env.integer("BEAT_LIVE_SECONDS", ENV, 15, minimum=2)
BEAT_OUTBOX_ADOPT_SECONDS = 2
# A published firing whose task has not started this long after its publish (the broker lost
# it) is published again, with the same task id (then every twice as long), until it starts or
# its misfire grace passes. A few times the normal start lag (well under a second).
BEAT_REDELIVER_AFTER_SECONDS = env.integer("BEAT_REDELIVER_AFTER_SECONDS", ENV, 10, minimum=1)

# --- Secrets -------------------------------------------------------------------------------
FIELD_ENCRYPTION_KEYS = env.encryption_keys(
    "FIELD_ENCRYPTION_KEYS", ENV.get("FIELD_ENCRYPTION_KEYS", "")
)
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise SettingError("FIELD_ENCRYPTION_KEYS", "must be set when DEBUG is off")
FLOWER_BASIC_AUTH = env.basic_auth("FLOWER_BASIC_AUTH", ENV.get("FLOWER_BASIC_AUTH", ""))
# Bearer token for /metrics (Prometheus); empty: only a staff session may scrape.
METRICS_TOKEN = ENV.get("METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise SettingError("METRICS_TOKEN", "must be at least 16 characters (or empty)")

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = "django-db"
CELERY_CACHE_BACKEND = "django-cache"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = ENV.get("TIME_ZONE", "UTC")
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", ENV, 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", ENV, 360, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise SettingError("CELERY_TASK_TIME_LIMIT", "must be longer than CELERY_TASK_SOFT_TIME_LIMIT")
# Backtests (queue `backtests`, their own worker line) run longer: their own task limits.
BACKTEST_SOFT_TIME_LIMIT = env.integer("BACKTEST_SOFT_TIME_LIMIT", ENV, 3600, minimum=1)
BACKTEST_TIME_LIMIT = BACKTEST_SOFT_TIME_LIMIT + 60
# How backtests and sweeps give way to live ticks (strategies/backtesting/yielding.py,
# tasks/background.py): a worker consuming only `backtests` runs at SCHED_IDLE CPU priority
# with "idle" (the Procfiles' line sets it; elsewhere nice 19) or keeps its `nice` with "nice";
# pauses (at most this many seconds each time) while live tasks wait in these queues (0: never);
# writes progress and sweep results at most once per BACKTEST_WRITE_SECONDS (0: each at once);
# and commits those without waiting for the WAL flush unless BACKTEST_SYNCHRONOUS_COMMIT is 1.
BACKTEST_WORKER_PRIORITY = ENV.get("BACKTEST_WORKER_PRIORITY", "nice").strip().lower()
if BACKTEST_WORKER_PRIORITY not in ("nice", "idle"):
    raise SettingError("BACKTEST_WORKER_PRIORITY", "must be nice or idle")
BACKTEST_YIELD_SECONDS = env.integer("BACKTEST_YIELD_SECONDS", ENV, 2)
BACKTEST_YIELD_QUEUES = ["celery"]
BACKTEST_WRITE_SECONDS = env.integer("BACKTEST_WRITE_SECONDS", ENV, 1)
BACKTEST_SYNCHRONOUS_COMMIT = env.boolean("BACKTEST_SYNCHRONOUS_COMMIT", ENV, default=False)
# Redis redelivers an unacknowledged message after the visibility timeout; it must outlast
# the longest task, or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(3600, CELERY_TASK_TIME_LIMIT * 2, BACKTEST_TIME_LIMIT * 2)
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Our beat (tasks.scheduling.beat): django-celery-beat's rows, fired from tasks_jobschedule.
CELERY_BEAT_SCHEDULER = "tasks.scheduling.beat:TickScheduler"
# The APScheduler backend runs tasks in-process with apply(): store their results too.
CELERY_TASK_STORE_EAGER_RESULT = True
CELERY_IMPORTS = (
    "tasks.system",
    "tasks.marketdata",
    "tasks.accounts",
    "tasks.strategies",
    "tasks.recovery",
    "tasks.backtests",
    "tasks.background",
    "tasks.sweeps",
    # Extra task modules, comma-separated: plug-ins, or test-only tasks in test workers.
    *(m.strip() for m in ENV.get("CELERY_EXTRA_IMPORTS", "").split(",") if m.strip()),
)

# Sweeps: TPE trials in flight at once per sweep (each a one-set task on `backtests`).
SWEEP_TPE_PARALLEL = env.integer("SWEEP_TPE_PARALLEL", ENV, 4, minimum=1)

# --- Market data and exchanges -----------------------------------------------------------
EXCHANGE_TIMEOUT_MS = env.integer("EXCHANGE_TIMEOUT_MS", ENV, 10_000, minimum=100)
EXCHANGE_RETRY_ATTEMPTS = env.integer("EXCHANGE_RETRY_ATTEMPTS", ENV, 3, minimum=1)
EXCHANGE_RETRY_BASE_DELAY = env.integer("EXCHANGE_RETRY_BASE_DELAY_MS", ENV, 500) / 1000
EXCHANGE_RETRY_MAX_DELAY = env.integer("EXCHANGE_RETRY_MAX_DELAY_MS", ENV, 30_000) / 1000
EXCHANGE_CONCURRENCY = env.integer("EXCHANGE_CONCURRENCY", ENV, 8, minimum=1)
EXCHANGE_RATE_LIMITS = env.integer_mapping("EXCHANGE_RATE_LIMITS", ENV)
MARKETDATA_BACKFILL_CANDLES = env.integer("MARKETDATA_BACKFILL_CANDLES", ENV, 500, minimum=1)
MARKETDATA_PAGE_LIMIT = env.integer("MARKETDATA_PAGE_LIMIT", ENV, 1000, minimum=1)
SIMULATOR_URL = ENV.get("SIMULATOR_URL", "http://127.0.0.1:8765")
MARKETDATA_MAX_CLOCK_SKEW_SECONDS = env.integer("MARKETDATA_MAX_CLOCK_SKEW_SECONDS", ENV, 30)
MARKETDATA_DELIST_MAX_SHARE = env.decimal(
    "MARKETDATA_DELIST_MAX_SHARE", ENV, Decimal("0.2"), Decimal(0), Decimal(1)
)

# --- Retention (days; 0 keeps forever) ----------------------------------------------------
RETENTION_CANDLE_DAYS = {
    "1m": 30, "5m": 90, "15m": 180, "30m": 365, "1h": 730, "4h": 0, "1d": 0,
    **env.integer_mapping("RETENTION_CANDLE_DAYS", ENV),
}  # fmt: skip
RETENTION_TICKER_DAYS = env.integer("RETENTION_TICKER_DAYS", ENV, 30)
RETENTION_STRATEGY_RUN_DAYS = env.integer("RETENTION_STRATEGY_RUN_DAYS", ENV, 90)
RETENTION_BALANCE_SNAPSHOT_DAYS = env.integer("RETENTION_BALANCE_SNAPSHOT_DAYS", ENV, 365)
RETENTION_TASK_RESULT_DAYS = env.integer("RETENTION_TASK_RESULT_DAYS", ENV, 14)
RETENTION_FIRING_DAYS = env.integer("RETENTION_FIRING_DAYS", ENV, 7)
RETENTION_BATCH_SIZE = env.integer("RETENTION_BATCH_SIZE", ENV, 5000, minimum=1)

# --- Trading -------------------------------------------------------------------------------
# On: every run that would place an order is recorded as skipped instead (paper and live).
TRADING_KILL_SWITCH = env.boolean("TRADING_KILL_SWITCH", ENV, default=False)
# Fee of a paper fill, as a fraction of its value (0.001 = 0.1 %).
PAPER_FEE_RATE = env.decimal(
    "PAPER_FEE_RATE", ENV, Decimal("0.001"), minimum=Decimal(0), maximum=Decimal("0.5")
)
# On: the beat sends a tick's strategies on one market and timeframe as one message, run
# together (`strategies.batch`); off: one message per strategy run. At most
# STRATEGY_BATCH_MAX strategies a message (each run holds a lock while its batch runs).
STRATEGY_BATCHING = env.boolean("STRATEGY_BATCHING", ENV, default=True)
STRATEGY_BATCH_MAX = env.integer("STRATEGY_BATCH_MAX", ENV, 500, minimum=1)
# How long after a candle closes a run at that moment waits for its collection to write it.
RUN_CANDLE_WAIT_SECONDS = env.integer("RUN_CANDLE_WAIT_SECONDS", ENV, 20)

# --- Health --------------------------------------------------------------------------------
# Dotted paths of checks; a critical failure makes the service "down", any other "degraded".
HEALTH_CHECKS = [
    "tasks.health.infra.check_database",
    "tasks.health.infra.check_broker",
    # The configured backend answers for itself (`Scheduler.health`): a live beat, or leader.
    "tasks.health.scheduler.check_scheduler",
    "tasks.health.ticks.check_ticks_recent",
]
# Checks that only /health/detail/ (staff) and the health_check job run: slower, or revealing.
HEALTH_DETAIL_CHECKS = [
    "tasks.health.infra.check_workers",
    "tasks.health.scheduler.check_scheduler_processes",
    "tasks.health.market.check_exchanges",
    "tasks.health.market.check_candles",
    "tasks.health.runs.check_strategies",
    "tasks.health.runs.check_stuck_runs",
    "tasks.health.runs.check_failing_strategies",
    "tasks.health.runs.check_unconfirmed_orders",
    "tasks.health.ticks.check_ticks",
]
# How far back lost and missed ticks keep /health/ degraded and are listed in the detail.
HEALTH_TICKS_WINDOW_SECONDS = env.integer("HEALTH_TICKS_WINDOW_SECONDS", ENV, 1800, minimum=60)

# --- Auth, i18n, static --------------------------------------------------------------------
# Login throttling (django-axes) for every password login: the admin and the API's session
# login. A (username, client address) pair is locked after LOGIN_FAILURE_LIMIT failures for
# LOGIN_LOCKOUT_MINUTES; `manage.py axes_reset_username NAME` or the admin lifts it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", ENV, 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("LOGIN_LOCKOUT_MINUTES", ENV, 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# axes logs "AXES: BEGIN ..." in every process that loads Django (13 under `make run`); the
# launcher turns it on for its first set-up step only, so it is printed once.
AXES_VERBOSE = env.boolean("AXES_VERBOSE", ENV, default=False)
# Its log lines name the user and address (the operator lifts by them); passwords stay masked.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
# One date format on every page (2026-12-01 11:40:00), the admin's lists included.
FORMAT_MODULE_PATH = ["project.formats"]
TIME_ZONE = CELERY_TIMEZONE
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Files served at the site's root (the favicon browsers ask every page for), by WhiteNoise.
WHITENOISE_ROOT = BASE_DIR / "project" / "public"

# Each user's API writes (POST, PUT, PATCH, DELETE) per second, minute, hour or day.
API_WRITE_RATE = ENV.get("API_WRITE_RATE", "60/minute").strip()
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", API_WRITE_RATE):
    raise SettingError(
        "API_WRITE_RATE", f"expected N/second|minute|hour|day, got {API_WRITE_RATE!r}"
    )
# Largest request body in bytes (API and admin); a larger one under /api/ is a JSON 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("MAX_REQUEST_BODY_BYTES", ENV, 1_048_576, minimum=1024)
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "project.kernel.api_schema.AutoSchema",
    # JSON only: the schema then lists one request body per operation, and it is exact.
    "DEFAULT_PARSER_CLASSES": ["project.kernel.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request then gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["project.kernel.api.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"writes": API_WRITE_RATE},
    "DEFAULT_PAGINATION_CLASS": "project.kernel.api.PageNumberPagination",
    "EXCEPTION_HANDLER": "project.kernel.api.handle_exception",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tickwork API",
    "VERSION": "1.0.0",
    # Separate request and response components: write-only secrets appear only in requests.
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar): works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",  # served by project.redoc, without its one outside address
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, Helvetica, Arial, sans-serif",
                "headings": {"fontFamily": "system-ui, Helvetica, Arial, sans-serif"},
            }
        }
    },
    # Three models have a `status`: name each choice set (a generated client's type names).
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "marketdata.models.ExchangeAccount.Status",
        "RunStatusEnum": "strategies.models.StrategyRun.Status",
        "OrderStatusEnum": "strategies.models.Order.Status",
    },
}

# --- Production hardening (check --deploy) ------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", ENV, default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", ENV, default=3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOG_LEVEL = ENV.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (on with DEBUG) printed each request warning twice.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # Under the Celery backend, APScheduler is only opened to clear its jobs (sync_schedules):
        # its "Scheduler started" and "shut down" lines would tell of a scheduler not in use.
        **(
            {"apscheduler.scheduler": {"level": "WARNING"}}
            if SCHEDULER_BACKEND_NAME != "apscheduler"
            else {}
        ),
    },
}
