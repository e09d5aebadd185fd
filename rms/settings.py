"""Settings for the Remote Monitoring System.

Everything comes from the environment and is parsed strictly: a value that does not parse
stops start-up with a message naming the variable (``rms.env``). The defaults serve a new
user on a laptop (SQLite under ``var/``, Celery tasks in-process, console email); with
``DJANGO_ENV=production`` the process refuses to start with DEBUG on, the default secret key
or no ALLOWED_HOSTS, and the security settings that ``manage.py check --deploy`` asks for are on.
The README's configuration table lists every variable read here.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from rms.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()

# ---------------------------------------------------------------------------
# Environment and the production guard
# ---------------------------------------------------------------------------
DJANGO_ENV = env.choice("DJANGO_ENV", ["development", "production"], default="development")
PRODUCTION = DJANGO_ENV == "production"
# pytest imports this module itself; tests get a fast password hasher and no file logging.
TESTING = "pytest" in sys.modules

DEFAULT_SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.string("SECRET_KEY", default=DEFAULT_SECRET_KEY)
DEBUG = env.boolean("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.strings(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1"]
)
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", default=[])

if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off (DEBUG=false)")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must name the host names this site is served on")
    if problems:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start: " + "; ".join(problems) + "."
        )

# ---------------------------------------------------------------------------
# Applications
# ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    # Swagger UI's and Redoc's files, pinned and served from here: the API docs work offline.
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "auditlog",
    "csp",
    # Sign-in security (rms.accounts): TOTP two-factor with backup codes, and lockout.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "rms",
    "clinic",
    "pkb_bridge",
    "careplans",
    "worklists",
]
# Demo data, the scale loader, the PKB sandbox and the MLLP test client (devtools/): on by
# default in development and the demo, always in the tests (they load the demo and run the
# sandbox); off by default in production, where the image does not ship the package. The
# sandbox's own image turns it on (docker/Dockerfile, target sandbox).
RMS_DEVTOOLS = env.boolean("RMS_DEVTOOLS", default=not PRODUCTION) or TESTING
if RMS_DEVTOOLS:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside everything else but the HTTPS redirect: every logged line of a request has its id.
    "rms.ops.logging.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "rms.web.PermissionsPolicyMiddleware",
    # On in every mode (development and tests too), so a violation shows in the browser tests.
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Ends expired and revoked sessions, then holds a signed-in user at the two-factor step.
    "rms.accounts.middleware.SessionLimitsMiddleware",
    "rms.accounts.middleware.TwoFactorMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    # Last, as django-axes asks: turns a lockout into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rms.urls"
WSGI_APPLICATION = "rms.wsgi.application"
ASGI_APPLICATION = "rms.asgi.application"

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
                "rms.context_processors.site",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rms.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL lets the listener, the worker and the web process read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", default=60)
    # Django's queries bind on the client and are never prepared. The inbound feed's two
    # statements (rms.inbound.express) and the PKB bridge's attempt record and lab rows
    # (pkb_bridge.services.delivery_sql, pkb_bridge.compose) ask to be prepared, once a
    # connection; a threshold nothing else reaches lets them. Set
    # DATABASE_PREPARED_STATEMENTS=false behind a pooler that cannot keep a session's
    # prepared statements (PgBouncer before 1.21 in transaction mode): they then run
    # unprepared, a little slower, and nothing else changes.
    # Their plan is made once (a generic plan: index lookups whatever the values), not again
    # at each execution; plan_cache_mode touches prepared statements only.
    if env.boolean("DATABASE_PREPARED_STATEMENTS", default=True):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["prepare_threshold"] = 1_000_000
        options["options"] = (
            options.get("options", "") + " -c plan_cache_mode=force_generic_plan"
        ).strip()
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "rms:patient_list"
LOGOUT_REDIRECT_URL = "login"
# Sign-in security (rms/accounts/). Two-factor (TOTP) for every user who signs in with a
# password; the demo turns it off. API tokens are issued by an administrator's command and
# are not affected.
RMS_REQUIRE_2FA = env.boolean("RMS_REQUIRE_2FA", default=True)
# ASVS 3.3.2 (level 2): re-authenticate after 30 minutes idle and 12 hours at most.
SESSION_IDLE_TIMEOUT_S = env.integer("SESSION_IDLE_TIMEOUT_S", default=30 * 60, minimum=60)
SESSION_ABSOLUTE_TIMEOUT_S = env.integer(
    "SESSION_ABSOLUTE_TIMEOUT_S", default=12 * 60 * 60, minimum=300
)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_S
# Lockout (django-axes) by the username and client address together: a username alone would
# let anyone lock a clinician out from anywhere, and an address alone would lock out a whole
# ward behind one Trust NAT address. Failures of the password and the two-factor code count
# alike; they age out after the cool-off, and a success does not wipe them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env.integer("LOGIN_COOLOFF_S", default=30 * 60, minimum=60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "rms.accounts.lockout.lockout_response"
# And a much higher limit per client address over all usernames (rms.accounts.lockout):
# password spraying (a few passwords over many usernames) from one address stops there.
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.integer(
    "LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=50, minimum=1
)
AXES_HANDLER = "rms.accounts.lockout.AddressLimitHandler"
# The client address is REMOTE_ADDR unless this many proxies in front of the site append to
# X-Forwarded-For (a header a client can forge when there is no proxy to overwrite it).
LOGIN_TRUSTED_PROXY_COUNT = env.integer("LOGIN_TRUSTED_PROXY_COUNT", default=0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "rms.accounts.lockout.client_address"
# The name authenticator apps show next to the code.
OTP_TOTP_ISSUER = env.string("OTP_TOTP_ISSUER", default="RMS")

# ---------------------------------------------------------------------------
# Internationalisation: an NHS service, in UK English and UK time
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.string("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------------------
# Static files
# ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
if not PRODUCTION:
    # WhiteNoise warns about a missing STATIC_ROOT; in development runserver serves the files.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    WHITENOISE_USE_FINDERS = True
# Files browsers ask for at the site's root (favicon.ico), answered by WhiteNoise before any
# view, so a browser's automatic request is neither a 404 nor a line in the access log.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# ---------------------------------------------------------------------------
# REST API
# ---------------------------------------------------------------------------


def _rate(name: str, default: str) -> str:
    """A DRF rate such as "600/min" (per second, minute, hour or day), or stop naming it."""
    value = env.string(name, default=default)
    count, _, period = value.partition("/")
    periods = {"s", "sec", "m", "min", "h", "hour", "d", "day"}
    if not (count.isdigit() and int(count) > 0 and period in periods):
        raise ImproperlyConfigured(
            f"Environment variable {name}={value!r} is not valid: expected a rate such as "
            "600/min (a whole number per s, min, hour or day)."
        )
    return value


# Requests a token (or a browser session) may make, and a tighter limit on the inbound feed
# endpoints (HL7 and JSON results): a sender stuck in a loop must not flood the record.
API_RATE_LIMIT = _rate("API_RATE_LIMIT", "600/min")
API_INBOUND_RATE_LIMIT = _rate("API_INBOUND_RATE_LIMIT", "1200/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Knox: tokens stored hashed, with an expiry, revoked by deleting the row.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Counted per token (per user for a browser session): one busy client cannot starve others.
    "DEFAULT_THROTTLE_CLASSES": ["rms.api.throttling.TokenRateThrottle"],
}
# API tokens (``manage.py rms_token``): how long a new token lives, and the request rates.
API_TOKEN_TTL_HOURS = env.integer("API_TOKEN_TTL_HOURS", default=720, minimum=1)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
# Request counts are shared by every web process through Redis when there is one.
_redis_url = env.string("REDIS_URL", default="")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url}
        if _redis_url and not TESTING
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
    ),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Remote Monitoring System API",
    "DESCRIPTION": (
        "Team-scoped access to the cancer follow-up record. Authenticate with "
        "`Authorization: Token <key>` (create one with `manage.py rms_user --token`)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The docs page's assets come from drf-spectacular-sidecar (static files), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" with its own choices; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "DiagnosisStatusEnum": "rms.models.Diagnosis.Status",
        # Result.Status and Observation.Status are the same set, so they share one enum.
        "ReportStatusEnum": "rms.models.Result.Status",
        "AppointmentStatusEnum": "rms.models.Appointment.Status",
        "DocumentStatusEnum": "rms.models.Document.Status",
    },
}

# ---------------------------------------------------------------------------
# Celery: with no broker configured, tasks run in-process (a new user needs nothing else)
# ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL", default="") or env.string(
    "REDIS_URL", default=""
)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
# The outbox is the record; these make Celery a reliable doorbell (reliability reference §2.1):
# ack after the task ran, give a killed worker's task back, one task reserved per process, and
# no long ETAs in Redis (backoff lives in the database).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 30.0
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 150
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# ---------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------
# Django 6.1's MAILERS (the EMAIL_* settings are deprecated), filled from one EMAIL_URL.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_email_options: dict[str, object] = {}
if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    _email_options = {
        "host": _email.get("EMAIL_HOST", "localhost"),
        "port": _email.get("EMAIL_PORT") or 25,
        "username": _email.get("EMAIL_HOST_USER", ""),
        "password": _email.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": bool(_email.get("EMAIL_USE_TLS", False)),
        "use_ssl": bool(_email.get("EMAIL_USE_SSL", False)),
        "timeout": env.integer("EMAIL_TIMEOUT_S", default=30, minimum=1),
    }
elif _email["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
    _email_options = {"file_path": _email.get("EMAIL_FILE_PATH")}
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", default="rms@localhost")
# The folder of the demo's mailbox (rms.ops.mailbox): set by `manage.py demo` when no
# EMAIL_URL is given, which also shows the emails kept there at /demo/emails/. Empty: no page.
DEMO_MAILBOX_DIR = ""

# ---------------------------------------------------------------------------
# Security. Production turns on everything `check --deploy` looks for.
# ---------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Permissions-Policy (rms.web.PermissionsPolicyMiddleware): every powerful browser feature
# off for every origin, ours included; no page uses any of them.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# htmx reads the CSRF token from the page (base.html), never from the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# A refused form says what to do next, inside the site's page (rms.errors).
CSRF_FAILURE_VIEW = "rms.errors.csrf_failure"
# The Content Security Policy (django-csp), in every mode: nothing inline, nothing from
# elsewhere. The API docs page too: its assets are served from here (rms.api.docs).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading is hard to undo (browsers ship the list): a Trust may turn it off.
    SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.boolean("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# ---------------------------------------------------------------------------
# Logging: to stderr; never patient data (see docs/security.md)
# ---------------------------------------------------------------------------
LOG_LEVEL = env.choice(
    "LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], default="INFO"
)
# Production writes one JSON object a line (rms.ops.logging): time, level, logger, message,
# the request id and a few fixed fields; anything shaped like an NHS number is masked.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "rms.ops.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "rms.ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if PRODUCTION else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# Celery would replace the handlers above with its own plain ones in the worker and beat.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------------------
# Operations: /healthz and /readyz are open; /metrics needs this bearer token or a staff session
# ---------------------------------------------------------------------------
METRICS_TOKEN = env.string("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "Environment variable METRICS_TOKEN is not valid: expected at least 32 random "
        "characters (or unset: then only staff users can read /metrics)."
    )

# ---------------------------------------------------------------------------
# Worklist: when an item is due, by its priority (counted from the day it is raised).
# Urgent items are due the same day, always (worklists.due; hazard W1 in
# docs/clinical-safety/hazard-log.md).
# ---------------------------------------------------------------------------
WORKLIST_DUE_WORKING_DAYS_HIGH = env.integer("WORKLIST_DUE_WORKING_DAYS_HIGH", default=2, minimum=0)
WORKLIST_DUE_DAYS_NORMAL = env.integer("WORKLIST_DUE_DAYS_NORMAL", default=7, minimum=0)
WORKLIST_DUE_DAYS_LOW = env.integer("WORKLIST_DUE_DAYS_LOW", default=28, minimum=0)

# ---------------------------------------------------------------------------
# Inbound HL7 v2 feeds (MLLP listener and the API)
# ---------------------------------------------------------------------------
MLLP_MAX_MESSAGE_BYTES = env.integer(
    "MLLP_MAX_MESSAGE_BYTES", default=16 * 1024 * 1024, minimum=1024
)
MLLP_IDLE_TIMEOUT_S = env.number("MLLP_IDLE_TIMEOUT_S", default=600.0, minimum=1.0)
MLLP_MAX_CONNECTIONS = env.integer("MLLP_MAX_CONNECTIONS", default=100, minimum=1)
# Connections one source address may hold open at once (an interface engine needs one a feed),
# so that one host cannot take every slot from the others.
MLLP_MAX_CONNECTIONS_PER_ADDRESS = env.integer(
    "MLLP_MAX_CONNECTIONS_PER_ADDRESS", default=10, minimum=1
)
# Seconds from a message's first byte (or a TLS handshake's) to its last: a connection that
# begins a message and never finishes it is closed after this, not after MLLP_IDLE_TIMEOUT_S.
MLLP_FRAME_TIMEOUT_S = env.number("MLLP_FRAME_TIMEOUT_S", default=30.0, minimum=1.0)
# Comma-separated networks (CIDR) allowed to connect; empty allows any source.
MLLP_ALLOWED_NETWORKS = env.strings("MLLP_ALLOWED_NETWORKS", default=[])
# Who may send what (docs/security.md, "Trust boundaries"): comma-separated MSH3^MSH4@ORIGIN,
# ORIGIN being a network (CIDR), cn:NAME (a verified TLS client certificate) or user:NAME (an
# API account). A message whose MSH-3/MSH-4 is not allowed from where it came is refused (AR)
# and kept. Empty: any sender, which production allows only with MLLP_ALLOW_ANY_SENDER=true.
MLLP_SENDERS = env.senders("MLLP_SENDERS")
MLLP_ALLOW_ANY_SENDER = env.boolean("MLLP_ALLOW_ANY_SENDER", default=False)
# The PAS: the only senders (MSH3^MSH4, comma-separated) whose ADT messages change
# demographics. Empty: any sender while MLLP_SENDERS is empty, none once it is set.
MLLP_PAS_SENDERS = env.senders("MLLP_PAS_SENDERS", with_origin=False)
# MSH-3 values whose ORU^R01 are radiology reports rather than lab results.
INBOUND_RADIOLOGY_APPLICATIONS = env.strings(
    "INBOUND_RADIOLOGY_APPLICATIONS", default=["CRIS", "RIS", "RADIOLOGY"]
)
# Also validate each message against hl7apy's message structures (slow: ~10 ms a message).
INBOUND_STRICT_VALIDATION = env.boolean("INBOUND_STRICT_VALIDATION", default=False)
# When the AA acknowledgement is sent. "filing" (the default): after the message is stored,
# matched and filed in one transaction, so AA means "filed, or held for a person". "storing":
# after the raw message is committed and has parsed as a message type we file (a message we
# will never accept still gets AE/AR at once); the filing follows in a worker
# (rms.tasks.inbound_file, rung on commit and swept by beat), in arrival order, and a message
# that then cannot be filed is held with a work item for an administrator. "storing" is the
# integration engines' store-then-acknowledge model, for feeds that need more than about 60
# messages a second on one connection (docs/benchmarks.md).
INBOUND_ACK_AFTER = env.choice("INBOUND_ACK_AFTER", ["filing", "storing"], default="filing")
# Filing mode on PostgreSQL: a message of new results for a known patient (most of a lab's
# feed) is filed in one read and one write (rms.inbound.express), the same rows the general
# path writes; anything else takes the general path. Off: every message takes the general
# path (a lower rate: docs/benchmarks.md, "Eighth round (inbound)").
INBOUND_EXPRESS = env.boolean("INBOUND_EXPRESS", default=True)
# How many filers a stored message's doorbell starts (storing mode). Messages about different
# patients (and filler order numbers) are filed in parallel, each patient's in arrival order
# (rms.inbound.partition); give the Celery workers at least this much concurrency. On SQLite
# one files at a time whatever this says.
INBOUND_FILERS = env.integer("INBOUND_FILERS", default=2, minimum=1)
# How often beat files messages acknowledged on storing that no worker has filed yet.
INBOUND_FILE_SWEEP_INTERVAL_S = env.number(
    "INBOUND_FILE_SWEEP_INTERVAL_S", default=60.0, minimum=5.0
)
# How often beat runs the domain events' consumers for events whose doorbell was lost, and
# retries the ones that failed (rms.events).
EVENTS_SWEEP_INTERVAL_S = env.number("EVENTS_SWEEP_INTERVAL_S", default=30.0, minimum=1.0)
# How long a consumed event is kept (for an audit of what the consumers were told), in days.
EVENTS_KEEP_DAYS = env.integer("EVENTS_KEEP_DAYS", default=30, minimum=1)
# Our own names in the acknowledgements we send (MSH-3/MSH-4).
INBOUND_ACK_APPLICATION = env.string("INBOUND_ACK_APPLICATION", default="RMS")
INBOUND_ACK_FACILITY = env.string("INBOUND_ACK_FACILITY", default="RMS")
DOCUMENT_MAX_BYTES = env.integer("DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024, minimum=1024)

# ---------------------------------------------------------------------------
# Patients Know Best (see docs/pkb.md; the reference's unverified points are settings here)
# ---------------------------------------------------------------------------
# The defaults point at the local sandbox (manage.py pkb_sandbox); production must name PKB.
PKB_URL = env.string("PKB_URL", default="http://127.0.0.1:7443/services/hl7")
# Unset, they are the local sandbox's; production has no default (the sandbox's would be
# sent to PKB).
PKB_USERNAME = env.string("PKB_USERNAME", default="" if PRODUCTION else "sandbox")
PKB_PASSWORD = env.string("PKB_PASSWORD", default="" if PRODUCTION else "sandbox")
if PRODUCTION and not PKB_URL.startswith("https://"):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production refuses to start: PKB_URL must be PKB's https:// endpoint."
    )
if PRODUCTION and not (PKB_USERNAME and PKB_PASSWORD):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production refuses to start: PKB_USERNAME and PKB_PASSWORD must be the "
        "credentials PKB issued to the Trust."
    )
# PKB asks for one message at a time (up to 4 only by agreement with PKB's devops).
PKB_MAX_IN_FLIGHT = env.integer("PKB_MAX_IN_FLIGHT", default=1, minimum=1)
# A total deadline per request (connect, send, wait, read), not a per-read timeout.
PKB_TIMEOUT_S = env.number("PKB_TIMEOUT_S", default=30.0, minimum=0.1)
PKB_CONNECT_TIMEOUT_S = env.number("PKB_CONNECT_TIMEOUT_S", default=10.0, minimum=0.1)
PKB_VERIFY_TLS = env.boolean("PKB_VERIFY_TLS", default=True)
if PRODUCTION and not PKB_VERIFY_TLS and not env.boolean("PKB_ALLOW_UNVERIFIED_TLS", default=False):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production refuses to start: PKB_VERIFY_TLS=false sends patient data to a "
        "server whose certificate is not checked (set PKB_ALLOW_UNVERIFIED_TLS=true to insist)."
    )
PKB_CA_BUNDLE = env.string("PKB_CA_BUNDLE", default="")
PKB_PROCESSING_ID = env.choice("PKB_PROCESSING_ID", ["P", "T", "D"], default="P")
PKB_SENDING_APPLICATION = env.string("PKB_SENDING_APPLICATION", default="RMS")
PKB_RADIOLOGY_APPLICATION = env.string("PKB_RADIOLOGY_APPLICATION", default="RADIOLOGY")
# The assigning authority (CX.4) PKB has been configured with for the Trust's MRNs; blank
# sends the NHS number alone (PKB ignores local ids it does not know).
PKB_MRN_ASSIGNING_AUTHORITY = env.string("PKB_MRN_ASSIGNING_AUTHORITY", default="")
# Where PKB reads the patient delay (days) of a lab result: its pages disagree. The delay is
# always in OBX-13 of every OBX; OBR-13 writes it in OBR-13 as well.
PKB_DELAY_FIELD = env.choice("PKB_DELAY_FIELD", ["OBX-13", "OBR-13"], default="OBX-13")
# Which component of PID-13 carries the patient's email (with use code NET): PKB's newer
# examples use XTN-1, its older ones XTN-4; which one PKB reads is unverified.
PKB_EMAIL_COMPONENT = env.choice("PKB_EMAIL_COMPONENT", ["XTN-1", "XTN-4", "both"], default="both")
# The SOAPAction HTTP header of each request; PKB's WSDL says which (blank: "").
PKB_SOAP_ACTION = env.string("PKB_SOAP_ACTION", default="")
if any(ch in PKB_SOAP_ACTION for ch in '"\\') or not PKB_SOAP_ACTION.isprintable():
    raise ImproperlyConfigured(
        f"PKB_SOAP_ACTION={PKB_SOAP_ACTION!r} is not valid: it must be printable, without "
        "quotes or backslashes (it is sent quoted)."
    )
# A deleted care plan cannot be deleted in PKB (MDM^T11 does not apply to care plans): it is
# replaced, under the same TXA-12, by a version that says only this.
PKB_CARE_PLAN_WITHDRAWN_TEXT = env.string(
    "PKB_CARE_PLAN_WITHDRAWN_TEXT",
    default=(
        "Your care team has withdrawn this care plan. It no longer applies to you. "
        "Please contact your care team if you have any questions."
    ),
)
# Historic lab results are packed several OBR groups to a message, within these limits.
PKB_PACK_MAX_BYTES = env.integer("PKB_PACK_MAX_BYTES", default=64 * 1024, minimum=1024)
PKB_PACK_MAX_REPORTS = env.integer("PKB_PACK_MAX_REPORTS", default=50, minimum=1)
# Retries after a transport failure: capped exponential backoff, kept in the database.
PKB_RETRY_BASE_S = env.number("PKB_RETRY_BASE_S", default=30.0, minimum=0.0)
PKB_RETRY_MAX_S = env.number("PKB_RETRY_MAX_S", default=900.0, minimum=0.0)
# A message that keeps failing (refused, timed out, 5xx, SOAP fault, no ACK) is "stalled" after
# this many failed attempts in a row or this many hours of them, whichever comes first: it is
# still retried, but an administrator gets a work item and rms_pkb_outbox_stalled_messages
# counts it. 8 attempts take about 45 minutes with the default backoff (30 s doubling, capped
# at 15 min): longer than PKB's restarts, short enough to be within the day's results.
PKB_STALL_AFTER_ATTEMPTS = env.integer("PKB_STALL_AFTER_ATTEMPTS", default=8, minimum=1)
PKB_STALL_AFTER_HOURS = env.number("PKB_STALL_AFTER_HOURS", default=1.0, minimum=0.1)
# A message in flight longer than this is taken to belong to a dead worker and requeued. It
# follows the send deadline (a live send has given up by then) plus a margin for recording the
# outcome and for clocks of different hosts; shorter than the deadline would give a live send
# away (two in flight). A starting worker gives back its own host's dead claims at once.
PKB_IN_FLIGHT_LEASE_S = env.number("PKB_IN_FLIGHT_LEASE_S", default=PKB_TIMEOUT_S + 15, minimum=1.0)
if PKB_IN_FLIGHT_LEASE_S <= PKB_TIMEOUT_S:
    raise ImproperlyConfigured(
        "PKB_IN_FLIGHT_LEASE_S must be longer than PKB_TIMEOUT_S: a message still being sent "
        "would be given to another worker and sent twice at once."
    )
PKB_SWEEP_INTERVAL_S = env.number("PKB_SWEEP_INTERVAL_S", default=30.0, minimum=1.0)
# A held item a team's policy releases automatically raises a review work item this long
# before the release, and is never released sooner than this after that item was raised (a
# day: the team sees it on the next working day's worklist before the patient sees the item).
PKB_AUTO_RELEASE_NOTICE_HOURS = env.number(
    "PKB_AUTO_RELEASE_NOTICE_HOURS", default=24.0, minimum=1.0
)
# How long one dispatch task keeps sending before handing over to a fresh task.
PKB_DISPATCH_BUDGET_S = env.number("PKB_DISPATCH_BUDGET_S", default=50.0, minimum=1.0)
# Request and response bodies hold patient data: kept this long for investigation, then pruned.
PKB_BODY_RETENTION_DAYS = env.integer("PKB_BODY_RETENTION_DAYS", default=30, minimum=0)
# The patient invitation email.
PKB_INVITE_FROM = env.string("PKB_INVITE_FROM", default="")
PKB_PORTAL_URL = env.string("PKB_PORTAL_URL", default="https://my.patientsknowbest.com/")
NHS_APP_URL = env.string("NHS_APP_URL", default="https://www.nhs.uk/nhs-app/")
PKB_TEAM_CONTACT = env.string(
    "PKB_TEAM_CONTACT",
    default="your clinical nurse specialist team (the number is on your letters)",
)
PKB_INVITE_MAX_ATTEMPTS = env.integer("PKB_INVITE_MAX_ATTEMPTS", default=5, minimum=1)
# The PKBCS05 type (TXA-2) of the letter that shares library resources with a patient: a
# clinic letter by default, the general letter type PKB files where patients look for what
# their team sent. Any Document.DocumentType but CP (PKB keeps care plans apart, versioned
# and undeletable). Listed here because models cannot be imported by settings; a test checks
# the list against the model.
PKB_INFORMATION_DOCUMENT_TYPES = ["AL", "AN", "BR", "CL", "DL", "DS", "MDT", "RL", "TCI"]
PKB_INFORMATION_DOCUMENT_TYPE = env.choice(
    "PKB_INFORMATION_DOCUMENT_TYPE", PKB_INFORMATION_DOCUMENT_TYPES, default="CL"
)
# The PKB document type (TXA-2) consent records are shared as. PKB's code set has no consent
# type; a clinic letter is shown with the patient's correspondence, where a record of a
# conversation with the team belongs (a care plan, CP, would be kept as a care plan).
# The codes are rms.Document.DocumentType.values, spelled out because settings cannot import
# models; tests/careplans/care_plans/test_consent_settings.py keeps the two lists equal.
PKB_CONSENT_DOCUMENT_TYPE = env.choice(
    "PKB_CONSENT_DOCUMENT_TYPE",
    ["AL", "AN", "BR", "CL", "CP", "DL", "DS", "MDT", "RL", "TCI"],
    default="CL",
)
# PKB's FHIR API (questionnaires, patient-entered data): OAuth2 client credentials. Off in
# production until PKB has issued the client; the defaults point at the local sandbox.
PKB_FHIR_ENABLED = env.boolean("PKB_FHIR_ENABLED", default=False)
PKB_FHIR_URL = env.string("PKB_FHIR_URL", default="http://127.0.0.1:7443/fhir")
PKB_FHIR_TOKEN_URL = env.string("PKB_FHIR_TOKEN_URL", default="http://127.0.0.1:7443/oauth/token")
PKB_FHIR_CLIENT_ID = env.string("PKB_FHIR_CLIENT_ID", default="" if PRODUCTION else "sandbox")
PKB_FHIR_CLIENT_SECRET = env.string(
    "PKB_FHIR_CLIENT_SECRET", default="" if PRODUCTION else "sandbox"
)
PKB_FHIR_SCOPE = env.string("PKB_FHIR_SCOPE", default="")
PKB_FHIR_TOKEN_AUTH_METHOD = env.choice(
    "PKB_FHIR_TOKEN_AUTH_METHOD",
    ["client_secret_basic", "client_secret_post"],
    default="client_secret_basic",
)
PKB_FHIR_TIMEOUT_S = env.number("PKB_FHIR_TIMEOUT_S", default=30.0, minimum=0.1)
PKB_FHIR_POLL_INTERVAL_S = env.number("PKB_FHIR_POLL_INTERVAL_S", default=300.0, minimum=5.0)
PKB_FHIR_PATIENT_SYSTEM = env.string(
    "PKB_FHIR_PATIENT_SYSTEM", default="https://fhir.nhs.uk/Id/nhs-number"
)
if PRODUCTION and PKB_FHIR_ENABLED:
    fhir_problems = [
        f"{name} must be PKB's https:// address"
        for name, url in (
            ("PKB_FHIR_URL", PKB_FHIR_URL),
            ("PKB_FHIR_TOKEN_URL", PKB_FHIR_TOKEN_URL),
        )
        if not url.startswith("https://")
    ] + [
        f"{name} must be set"
        for name, value in (
            ("PKB_FHIR_CLIENT_ID", PKB_FHIR_CLIENT_ID),
            ("PKB_FHIR_CLIENT_SECRET", PKB_FHIR_CLIENT_SECRET),
        )
        if not value
    ]
    if fhir_problems:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start: " + "; ".join(fhir_problems) + "."
        )
# ---------------------------------------------------------------------------
# Monitoring (follow-up plans)
# ---------------------------------------------------------------------------
# How often beat runs the overdue-test scan (it is idempotent; hourly is plenty).
MONITORING_OVERDUE_SCAN_INTERVAL_S = env.number(
    "MONITORING_OVERDUE_SCAN_INTERVAL_S", default=3600.0, minimum=60.0
)
# How often beat creates the questionnaire requests the pathways' schedules make due (idempotent).
QUESTIONNAIRE_SCHEDULE_INTERVAL_S = env.number(
    "QUESTIONNAIRE_SCHEDULE_INTERVAL_S", default=3600.0, minimum=60.0
)
# Email patients this many days before a test is due (0: no reminders).
MONITORING_REMINDER_DAYS = env.integer("MONITORING_REMINDER_DAYS", default=0, minimum=0)
# Raise a "due for review" work item this many days before a library resource's review date.
RESOURCE_REVIEW_REMINDER_DAYS = env.integer("RESOURCE_REVIEW_REMINDER_DAYS", default=30, minimum=0)

CELERY_BEAT_SCHEDULE = {
    "inbound-file": {
        "task": "rms.tasks.inbound_file_sweep",
        "schedule": INBOUND_FILE_SWEEP_INTERVAL_S,
    },
    "events-sweep": {"task": "rms.tasks.events_consume", "schedule": EVENTS_SWEEP_INTERVAL_S},
    "events-purge": {"task": "rms.tasks.events_purge", "schedule": 24 * 3600.0},
    "pkb-sweep": {"task": "pkb_bridge.tasks.sweep", "schedule": PKB_SWEEP_INTERVAL_S},
    "pkb-fhir-send": {"task": "pkb_bridge.tasks.fhir_send", "schedule": PKB_SWEEP_INTERVAL_S},
    "pkb-fhir-poll": {"task": "pkb_bridge.tasks.fhir_poll", "schedule": PKB_FHIR_POLL_INTERVAL_S},
    "monitoring-overdue-scan": {
        "task": "careplans.tasks.overdue_scan",
        "schedule": MONITORING_OVERDUE_SCAN_INTERVAL_S,
    },
    "questionnaire-schedule": {
        "task": "careplans.tasks.questionnaire_schedule",
        "schedule": QUESTIONNAIRE_SCHEDULE_INTERVAL_S,
    },
    "library-review-reminders": {
        "task": "careplans.tasks.resource_review_reminders",
        "schedule": 6 * 3600.0,
    },
}

# ---------------------------------------------------------------------------
# The product
# ---------------------------------------------------------------------------
TRUST_NAME = env.string("TRUST_NAME", default="Demo NHS Foundation Trust")
SITE_NAME = env.string("SITE_NAME", default="Remote Monitoring")
