"""Plugyard settings, read from the environment.

Every value a deployment changes comes from an environment variable; the defaults run a
single machine on SQLite and a broker that needs no server (see README, "Scaling out").
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.env import env_bool, env_int, env_list, persistent_value

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PLUGYARD_VAR_DIR", BASE_DIR / "var"))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = persistent_value("SECRET_KEY", VAR_DIR, "secret_key", "django")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "tenants",
    "plugins_core",
    "marketplace",
    "devices",
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
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'plugyard.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes read while one of them writes;
    # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("PLUGYARD_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "marketplace:login"
# Where people land after signing in or choosing a password from a link.
LOGIN_REDIRECT_URL = "marketplace:browse"
# The site's address as people reach it: set-password links in emails and in create_tenant's
# output start with it (never with a request's Host header, which a client can forge).
PLUGYARD_BASE_URL = os.environ.get("PLUGYARD_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Secrets encryption -----------------------------------------------------------------
# A comma-separated list: the first key encrypts, all keys decrypt. To rotate, put a new
# key first, run `manage.py rotate_secret_keys`, then drop the old key.
PLUGYARD_FERNET_KEYS = env_list("PLUGYARD_FERNET_KEYS", []) or [
    persistent_value("PLUGYARD_FERNET_KEY", VAR_DIR, "fernet_key", "fernet")
]

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.auth.TenantTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    # drf-spectacular's, with the security schemes, roles and error envelope of every operation
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ClientSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Plugyard API",
    "DESCRIPTION": (
        "Upload, install and run plugins. Authenticate every call with "
        "`Authorization: Bearer <token>` and `X-Tenant-Slug: <tenant>` (in the docs page: Authorize). "
        "`GET /api/me` takes the token alone and answers the tenant it belongs to. Every error answers "
        "`{\"error\": {\"code\", \"message\", \"details\": [{\"field\", \"code\", \"message\"}]}}`. "
        "Plugin routes (`/ext/{slug}/{path}`) are each plugin's own API, authenticated the same way."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs page's assets are served from this server, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Try-it-out keeps the token and tenant across reloads of the docs page.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Request bodies get their own components: write-only fields in, read-only out, files as binary.
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids and tags are read after this prefix: plugins_enable_create (tag plugins),
    # and the plugin routes' ext_retrieve… (tag ext).
    "SCHEMA_PATH_PREFIX": "^/(api/)?",
    "PREPROCESSING_HOOKS": ["config.openapi.drop_slash_aliases"],
    "ENUM_NAME_OVERRIDES": {
        "InvocationKindEnum": "plugins_core.models.Invocation.KIND_CHOICES",
        "InvocationStatusEnum": "plugins_core.models.InvocationStatus",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.link_created_ids"],
}

# --- Celery -----------------------------------------------------------------------------
# The default broker is kombu's filesystem transport: no server, messages are files
# under var/broker. Set CELERY_BROKER_URL=redis://... to scale out.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport with atomic writes and claims (config/broker.py says why).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    _broker_dir = VAR_DIR / "broker"  # the transport creates its folders
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "staging_folder": str(_broker_dir / "staging"),
        "claimed_folder": str(_broker_dir / "claimed"),
        "store_processed": False,
        # kombu sleeps this long whenever it cannot take a message; its 1 s default
        # makes a fan-out crawl on the embedded broker.
        "polling_interval": 0.01,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
# A backstop behind the sandbox's own deadlines, for every task: a prefork worker kills a
# task past it, and the claims' leases recover what it held. The threads pool (what the
# Procfile runs) cannot kill a thread; there each wait on plugin code is bounded by the
# sandbox client (deadline + margin), so a task is bounded by its calls' deadlines.
CELERY_TASK_TIME_LIMIT = env_int("PLUGYARD_TASK_TIME_LIMIT", 900)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Three queues, so a deployment can size them apart: hooks (5 s deadlines) on "events",
# jobs and scheduled tasks (up to 30 s each) on "jobs", short bookkeeping on "celery".
# A worker started without -Q consumes all three (as `make run` does); see "Scaling out".
CELERY_TASK_QUEUES = [Queue("celery"), Queue("events"), Queue("jobs")]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "plugins_core.events.tasks.dispatch_event": {"queue": "events"},
    "plugins_core.events.tasks.run_event_hooks": {"queue": "events"},
    "plugins_core.webhooks.tasks.deliver_webhook": {"queue": "events"},
    "plugins_core.jobs.tasks.run_scheduled": {"queue": "jobs"},
    "plugins_core.jobs.tasks.execute_run": {"queue": "jobs"},
}
CELERY_BEAT_SCHEDULER = "plugins_core.jobs.beat:Scheduler"
# The sweeps beat runs besides the plugins' own schedules (plugins_core/jobs/beat.py lists
# the same entries for tests that start beat before these are in the database).
CELERY_BEAT_SCHEDULE = {
    "plugyard: fire due scheduler tasks": {"task": "plugins_core.jobs.tasks.run_due_scheduled_tasks", "schedule": 10.0},
    "plugyard: recover job runs": {"task": "plugins_core.jobs.tasks.recover_job_runs", "schedule": 30.0},
    "plugyard: dispatch pending events": {"task": "plugins_core.events.tasks.dispatch_pending_events", "schedule": 30.0},
    "plugyard: recover stalled invocations": {"task": "plugins_core.events.tasks.recover_stalled_invocations", "schedule": 30.0},
    "plugyard: send due webhook deliveries": {"task": "plugins_core.webhooks.tasks.send_due_webhooks", "schedule": 10.0},
    "plugyard: prune invocation logs": {"task": "plugins_core.events.tasks.prune_invocation_logs", "schedule": 24 * 3600.0},
    "plugyard: worker heartbeat": {"task": "plugins_core.health.heartbeat", "schedule": 10.0},
}
# GET /readyz and manage.py health (plugins_core/health.py): how old each sign of life may
# be, and how long an event or a hook may wait, before the pipeline counts as stuck.
PLUGYARD_READY = {
    "beat_s": env_int("PLUGYARD_READY_BEAT_S", 30),
    "workers_s": env_int("PLUGYARD_READY_WORKERS_S", 60),
    "outbox_s": env_int("PLUGYARD_READY_OUTBOX_S", 90),
    "pending_s": env_int("PLUGYARD_READY_PENDING_S", 300),
}

# --- Marketplace ----------------------------------------------------------------------------
# Paid listings: the class (a dotted path to a subclass of marketplace.entitlements.Entitlements)
# the host product implements to say whether a tenant may use one. The default records a
# trial of the listing's trial_days and refuses after it (docs/host-integration.md).
PLUGYARD_ENTITLEMENTS = os.environ.get("PLUGYARD_ENTITLEMENTS", "marketplace.entitlements.TrialEntitlements")

# --- Plugins ------------------------------------------------------------------------------
PLUGYARD_PACKAGE_LIMITS = {
    "max_compressed_bytes": env_int("PLUGYARD_MAX_PACKAGE_BYTES", 10 * 1024 * 1024),
    "max_expanded_bytes": env_int("PLUGYARD_MAX_EXPANDED_BYTES", 50 * 1024 * 1024),
    "max_entries": env_int("PLUGYARD_MAX_PACKAGE_ENTRIES", 2000),
    "max_ratio": env_int("PLUGYARD_MAX_COMPRESSION_RATIO", 100),
}
# Where unpacked plugin versions live, read-only, for the sandbox to bind into its jail.
PLUGYARD_PLUGIN_ROOT = Path(os.environ.get("PLUGYARD_PLUGIN_ROOT", VAR_DIR / "plugins"))
PLUGYARD_SANDBOX = {
    "strict": env_bool("PLUGYARD_SANDBOX_STRICT", False),
    "memory_mb": env_int("PLUGYARD_SANDBOX_MEMORY_MB", 100),
    "hook_timeout_s": env_int("PLUGYARD_SANDBOX_HOOK_TIMEOUT", 5),
    "job_timeout_s": env_int("PLUGYARD_SANDBOX_JOB_TIMEOUT", 30),
    # Per machine (the sandbox service keeps them for every web and worker process): plugin
    # versions kept loaded in a zygote, and installations kept in a warm worker. Cycling
    # through more versions than max_warm_zygotes restarts jails (~100 ms each); a zygote
    # costs about 3.5 MB of unique memory, a warm worker about 3 MB.
    "max_warm_zygotes": env_int("PLUGYARD_SANDBOX_MAX_ZYGOTES", 128),
    "max_warm_workers": env_int("PLUGYARD_SANDBOX_MAX_WORKERS", 256),
    # The machine's sandbox service (manage.py sandboxd) listens here; web and workers call it.
    "socket_path": os.environ.get("PLUGYARD_SANDBOX_SOCKET", str(VAR_DIR / "sandbox.sock")),
    "tenant_concurrency": env_int("PLUGYARD_SANDBOX_TENANT_CONCURRENCY", 4),
}

# ctx.http: the host makes plugins' requests. Only approved domains, never private addresses.
PLUGYARD_HTTP = {
    "allow": env_list("PLUGYARD_HTTP_ALLOW", []),  # if set, only these domains at all
    "deny": env_list("PLUGYARD_HTTP_DENY", []),
    "timeout_s": env_int("PLUGYARD_HTTP_TIMEOUT", 10),
    "max_response_bytes": 1024 * 1024,
    "max_request_bytes": 1024 * 1024,
    "max_redirects": 5,
    "ports": [80, 443, 8080, 8443],
    "ca_bundle": None,
    "UNSAFE_private_addresses_for_tests": [],
}
PLUGYARD_STORAGE = {"max_keys": 1000, "max_bytes": 5 * 1024 * 1024, "max_value_bytes": 1024 * 1024}
PLUGYARD_FILES = {"max_file_bytes": 10 * 1024 * 1024, "max_list": 1000}
# Budgets per tenant on what its plugins can multiply (plugins_core/usage.py).
PLUGYARD_TENANT_BUDGETS = {
    "file_bytes": env_int("PLUGYARD_TENANT_FILE_BYTES", 1024 * 1024 * 1024),
    "file_count": env_int("PLUGYARD_TENANT_FILE_COUNT", 10_000),
    "log_bytes_per_day": env_int("PLUGYARD_TENANT_LOG_BYTES_PER_DAY", 256 * 1024 * 1024),
}
# ctx.llm: any OpenAI-compatible chat-completions server; off unless a base URL is set.
PLUGYARD_LLM = {
    "base_url": os.environ.get("PLUGYARD_LLM_BASE_URL") or None,
    "api_key": os.environ.get("PLUGYARD_LLM_API_KEY") or None,
    "model": os.environ.get("PLUGYARD_LLM_MODEL", "gpt-4o-mini"),
    "timeout_s": 60,
    "max_prompt_chars": 32000,
    "max_tokens": 1024,
    "max_response_bytes": 1024 * 1024,
    "daily_token_limit": None,  # per tenant and day; None means unlimited
}
PLUGYARD_EMAIL = {"max_recipients": 20, "max_subject_chars": 200, "max_body_bytes": 256 * 1024, "from_email": None}
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "plugins@localhost")
PLUGYARD_MAX_EMIT_DEPTH = env_int("PLUGYARD_MAX_EMIT_DEPTH", 5)
# ... and how many events one originating event may lead to, however wide the chain fans out.
PLUGYARD_MAX_EVENTS_PER_ROOT = env_int("PLUGYARD_MAX_EVENTS_PER_ROOT", 20)
# Hook delivery: how long a claimed hook may run before another worker may take it over
# (hooks have a 5 s deadline; the rest is slack), and how long a pending hook may wait
# before it is taken for lost and queued again (recover_stalled_invocations).
PLUGYARD_HOOK_LEASE_S = env_int("PLUGYARD_HOOK_LEASE_S", 60)
# An invocation whose every attempt died unfinished (worker or sandbox killed) is given up
# after this many; what the invocation log keeps of a result and of the logs, per call.
PLUGYARD_INVOCATION_MAX_ATTEMPTS = env_int("PLUGYARD_INVOCATION_MAX_ATTEMPTS", 5)
PLUGYARD_INVOCATION_MAX_RESULT_BYTES = env_int("PLUGYARD_INVOCATION_MAX_RESULT_BYTES", 256 * 1024)
PLUGYARD_INVOCATION_MAX_LOG_BYTES = env_int("PLUGYARD_INVOCATION_MAX_LOG_BYTES", 64 * 1024)
# How long a hook waits for a slot in its tenant's sandbox budget before it is handed back
# and retried: a worker thread waits on one tenant's queue at most this long.
PLUGYARD_HOOK_QUEUE_S = float(os.environ.get("PLUGYARD_HOOK_QUEUE_S", "1.0"))
# Threads one worker process uses to run an event's installations (or a batch of cron runs)
# at the same time (each waits on the sandbox service: a connection, not a CPU).
PLUGYARD_DISPATCH_THREADS = env_int("PLUGYARD_DISPATCH_THREADS", 16)
# Cron schedules beat sends in one message when they are due together; a worker files their
# runs in bulk and runs them at once (plugins_core.jobs.beat.Scheduler).
PLUGYARD_JOBS_PER_MESSAGE = env_int("PLUGYARD_JOBS_PER_MESSAGE", 25)
PLUGYARD_HOOK_PENDING_GRACE_S = env_int("PLUGYARD_HOOK_PENDING_GRACE_S", 120)
PLUGYARD_ROUTES = {
    "max_body_bytes": env_int("PLUGYARD_ROUTE_MAX_BODY_BYTES", 1024 * 1024),
    "rate_limit_per_minute": env_int("PLUGYARD_ROUTE_RATE_LIMIT", 600),  # per installation; 0 = off
}
# Webhooks-as-code delivery: retry n waits backoff_base_s * 2**(n-1) (exponential) or
# backoff_base_s (fixed), at most backoff_cap_s; a webhook file's max_attempts is capped at
# max_attempts_cap; an attempt is leased for lease_s, after which another worker may retry it.
PLUGYARD_WEBHOOKS = {
    "backoff_base_s": env_int("PLUGYARD_WEBHOOK_BACKOFF_BASE", 10),
    "backoff_cap_s": env_int("PLUGYARD_WEBHOOK_BACKOFF_CAP", 3600),
    "max_attempts_cap": env_int("PLUGYARD_WEBHOOK_MAX_ATTEMPTS", 20),
    "timeout_s": env_int("PLUGYARD_WEBHOOK_TIMEOUT", 10),
    "lease_s": env_int("PLUGYARD_WEBHOOK_LEASE_S", 120),
}
# Local development only: webhook deliveries (not ctx.http) may go to loopback receivers on any
# port. Honoured only when DEBUG is on, too; `make run` sets both.
PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK = env_bool("PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK", False)
# How long invocation logs are kept (manage.py prune_invocations).
PLUGYARD_INVOCATION_RETENTION_DAYS = env_int("PLUGYARD_INVOCATION_RETENTION_DAYS", 30)
# GET /metrics (Prometheus) is off (404) unless set; then it wants "Authorization: Bearer <this>".
PLUGYARD_METRICS_TOKEN = os.environ.get("PLUGYARD_METRICS_TOKEN") or None

# The route rate limit and other counters live in the cache: per process by default,
# shared across machines with CACHE_URL=redis://...
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_URL"]}
    if os.environ.get("CACHE_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# LOG_FORMAT=json: one JSON object per line, with one line per finished invocation and per
# webhook attempt (logger plugyard.activity, plugins_core/activity_log.py); plain leaves
# those out unless LOG_ACTIVITY=true.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT: {LOG_FORMAT!r} is not one of plain, json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "plugyard.activity": {
            "level": "INFO" if LOG_FORMAT == "json" or env_bool("LOG_ACTIVITY", False) else "WARNING",
        },
    },
}
