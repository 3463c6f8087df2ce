"""Digis settings: one module, driven by environment variables (12-factor).

With no variables at all this is the *embedded default*: SQLite (WAL), the
in-memory channel layer, the local-memory cache and Celery tasks run in-process
with an in-process beat (see ``digis.embedded``). ``DATABASE_URL`` switches to
PostgreSQL, ``REDIS_URL`` to Redis for channels, cache and the Celery broker.
Every variable is listed in README.md; keep that table in step with this file.
"""

import sys
from pathlib import Path
from datetime import timedelta

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
TESTING = env.bool("DIGIS_TESTING", default="pytest" in sys.modules)

# --- Secrets and hosts -----------------------------------------------------
# Production (DEBUG=false) refuses to start without a real secret and hosts:
# a guessable key forges sessions and password-reset links.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-insecure-digis-key-do-not-use-in-production-0123456789")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY (50+ random characters) is required when DEBUG=false")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG=false")

SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "csp",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "djstripe",
    "digis.apps.DigisConfig",
    "accounts.apps.AccountsConfig",
    "creators.apps.CreatorsConfig",
    "ledger.apps.LedgerConfig",
    "payments.apps.PaymentsConfig",
    "calls.apps.CallsConfig",
    "streaming.apps.StreamingConfig",
    "messaging.apps.MessagingConfig",
    "notifications.apps.NotificationsConfig",
    "payouts.apps.PayoutsConfig",
    "moderation.apps.ModerationConfig",
    "analytics.apps.AnalyticsConfig",
]

MIDDLEWARE = [
    "digis.middleware.RequestIDMiddleware",
    "digis.middleware.AccessLogMiddleware",
    "digis.middleware.RejectNullCharactersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "digis.middleware.GlobalRateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "digis.middleware.CSPMiddleware",  # django-csp's, building the site-wide policy once
    "digis.middleware.PermissionsPolicyMiddleware",
    # Last: with DEBUG, 404s get the friendly page too, not Django's technical one.
    "digis.error_pages.FriendlyNotFoundMiddleware",
    # Last, so it sees the view's exceptions first: a database away is a 503.
    "digis.middleware.BackingServiceUnavailableMiddleware",
]

ROOT_URLCONF = "digis.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "digis.asgi.application"

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
                "digis.context_processors.site",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
DB_IS_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"
if DB_IS_POSTGRES:
    # Django's native psycopg 3 pool: connections are reused by the pool, so
    # CONN_MAX_AGE must stay 0. The statement timeout is set server-side per
    # connection so a runaway query cannot hold locks forever.
    _db["CONN_MAX_AGE"] = 0
    _db["CONN_HEALTH_CHECKS"] = True
    _options = _db.setdefault("OPTIONS", {})
    if env.bool("DB_POOL", default=True):
        # With CONN_HEALTH_CHECKS, Django gives the pool check_connection:
        # every checkout is verified (one empty round trip), so a connection
        # that died with a PostgreSQL restart is replaced, not handed out.
        _options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT_S", default=5),
        }
    # Django's cursors bind parameters on the client and are never prepared,
    # whatever this says. The one statement sent through a server-binding
    # cursor, the ledger's hot call (ledger.services._call_ledger_post), is
    # prepared at first use on each connection. (Django leaves this unset for
    # PgBouncer in transaction mode, which needs >= 1.21 with
    # max_prepared_statements for it: docs/operations.md.)
    _options["prepare_threshold"] = 0
    _statement_timeout_ms = env.int("DB_STATEMENT_TIMEOUT_MS", default=10_000)
    _options["options"] = f"-c statement_timeout={_statement_timeout_ms}"
    _db.setdefault("TEST", {})["NAME"] = env("TEST_DATABASE_NAME", default="test_digis")
else:
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take
    # the write lock up front so two writers queue instead of deadlocking.
    _db.setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# dj-stripe's own migrations rebuild ~50 tables a column at a time (its 0002 is
# 3 CPU-minutes on SQLite); one migration that creates its current models
# directly does the same in seconds. See docs/architecture.md ("Decisions").
MIGRATION_MODULES = {"djstripe": "digis.djstripe_migrations"}
SLOW_QUERY_MS = env.int("SLOW_QUERY_MS", default=200)

# --- Redis: cache, channel layer, Celery broker ---------------------------
REDIS_URL = env("REDIS_URL", default="")
# How long one cache command may wait for Redis before this process answers
# from its own memory instead (digis/cache.py), and how often it then retries.
REDIS_CACHE_TIMEOUT_S = env.float("REDIS_CACHE_TIMEOUT_S", default=1.0)
REDIS_CACHE_RETRY_S = env.float("REDIS_CACHE_RETRY_S", default=5.0)
# The channel layer waits for events with a blocking pop of 5 s (channels_redis's
# brpop_timeout), so its read timeout must be longer: redis-py 8 made 5 s the
# default socket timeout, which closed every idle /ws/ socket with 1011 after
# exactly 5 s (docs/operations.md, "Redis timeouts").
CHANNELS_REDIS_SOCKET_TIMEOUT_S = env.float("CHANNELS_REDIS_SOCKET_TIMEOUT_S", default=10.0)
if REDIS_URL:
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    CACHES = {
        "default": {
            "BACKEND": "digis.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="digis"),
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CACHE_TIMEOUT_S,
                "socket_timeout": REDIS_CACHE_TIMEOUT_S,
                # A pooled connection that died with a Redis restart fails on
                # its next use; one retry on a fresh connection hides that.
                "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1, supported_errors=(RedisConnectionError,)),
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": 2,
                        "socket_timeout": CHANNELS_REDIS_SOCKET_TIMEOUT_S,
                        "socket_keepalive": True,
                        "retry": AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 1, supported_errors=(RedisConnectionError,)),
                    }
                ],
                "prefix": env("CHANNELS_PREFIX", default="digis"),
                # A tab that stops reading must not grow Redis without bound:
                # 200 queued events per channel, dropped after 60 s unread.
                "capacity": env.int("CHANNELS_CAPACITY", default=200),
                "expiry": env.int("CHANNELS_EXPIRY_S", default=60),
                "group_expiry": 86400,
            },
        }
    }
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = False
    EMBEDDED_JOBS = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "digis"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 200, "expiry": 60}}}
    # Embedded default: no broker. Tasks run in-process (after commit) and the
    # beat schedule is driven by a thread inside the web process, so jobs share
    # the in-memory channel layer and cache with the sockets they notify.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    EMBEDDED_JOBS = True

CELERY_TASK_EAGER_PROPAGATES = TESTING
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # kombu waits forever on a hung broker by default; a request queueing a
    # task after commit must not (digis/background.py). Longer than the
    # worker's 1 s blocking pop.
    "socket_timeout": 3,
    "socket_connect_timeout": 2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A worker whose Redis goes away waits for it however long it takes (the
# default gives up after 100 tries and exits), and also treats the errors a
# half-restarted Redis gives on a channel (kombu's channel_errors) as a lost
# connection to re-establish, not as a reason to shut down.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CHANNEL_ERROR_RETRY = True
# Where beat keeps its schedule's state (last run of each entry); a writable path.
CELERY_BEAT_SCHEDULE_FILENAME = env("CELERY_BEAT_SCHEDULE_FILENAME", default="celerybeat-schedule")
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# Periodic jobs. Apps add theirs here (name -> task, schedule in seconds).
CELERY_BEAT_SCHEDULE = {
    "digis-heartbeat": {"task": "digis.tasks.beat_heartbeat", "schedule": 60.0},
}

# --- Realtime ---------------------------------------------------------------
PRESENCE_TTL_S = env.int("PRESENCE_TTL_S", default=90)
REALTIME_PING_INTERVAL_S = 30

# --- Auth ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 by design costs ~50 ms per hash; the suite creates thousands of
    # users. Tests that check the production hasher override this.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"] + PASSWORD_HASHERS
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "digis.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON in, with a nesting limit and no NUL characters (digis/parsers.py).
    # Views that take files (avatars) add multipart themselves. JSON only, so
    # the input types are the schema's (digis/fields.py): a form body would
    # make every field a string.
    "DEFAULT_PARSER_CLASSES": ["digis.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "digis.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Which function turns a bearer token into a user (the API and the socket
# share it). The accounts app provides the JWT implementation.
BEARER_TOKEN_AUTHENTICATOR = "accounts.tokens.user_for_access_token"
SPECTACULAR_SETTINGS = {
    "TITLE": "Digis API",
    "DESCRIPTION": "Tokens, creators, calls and messages. Errors share one body: "
    '{"error": {"code", "message", "fields", "request_id"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation's error responses, in the one error shape (digis/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "digis.schema.document_error_responses",
    ],
}

# --- Rate limits (django-ratelimit) -----------------------------------------
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "digis.net.client_ip_for_ratelimit"
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
GLOBAL_RATE_LIMIT = env("GLOBAL_RATE_LIMIT", default="300/m")
# How many reverse proxies in front of us append to X-Forwarded-For. 0 means
# the header is ignored: trusting it blindly lets anyone pick their own IP.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# The largest request body the web process accepts: larger ones get 413 as
# soon as their Content-Length arrives, before the body is read (digis/server.py).
# Avatars and message images (5 MiB) with their multipart framing fit.
HTTP_MAX_BODY_BYTES = env.int("HTTP_MAX_BODY_BYTES", default=12 * 1024 * 1024)

# --- Security --------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (Redis in production) and written through
# to the database: a signed-in request reads its session without a query (it
# was a quarter of a signed-in Explore request's CPU with the user's row,
# bench/explore.py --py-spy). While Redis is away each process reads the
# database; a sign-out's delete is replayed when Redis is back (digis/cache.py).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
# Camera and microphone are the product (calls), for our own origin only.
PERMISSIONS_POLICY = "camera=(self), microphone=(self), geolocation=(), payment=(self), usb=()"
if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

CSP_EXTRA_SCRIPT_SRC = env.list("CSP_EXTRA_SCRIPT_SRC", default=[])
CSP_EXTRA_CONNECT_SRC = env.list("CSP_EXTRA_CONNECT_SRC", default=[])
CSP_EXTRA_FRAME_SRC = env.list("CSP_EXTRA_FRAME_SRC", default=[])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *CSP_EXTRA_SCRIPT_SRC],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:", *CSP_EXTRA_CONNECT_SRC],
        "frame-src": ["'self'", *CSP_EXTRA_FRAME_SRC],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# --- I18N, static, media ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Let Django serve MEDIA_ROOT itself: right for `make run`, wrong behind a
# proxy or object storage that serves uploads in production.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "digis.storage.ManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- E-mail ----------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
# The file backend (django.core.mail.backends.filebased.EmailBackend) writes here.
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=BASE_DIR / "sent-mail")
EMAIL_URL = env("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Digis <no-reply@digis.local>")
# Seconds an SMTP connection may block (Django's default is forever); e-mail is sent by workers.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_S", default=10)

# --- Logging: one JSON object per line ------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "digis.logging.RequestIDFilter"}},
    "formatters": {"json": {"()": "digis.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # The access log below replaces Django's own request warnings.
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        # One line per task run is noise at INFO; failures still log.
        "celery.app.trace": {"level": "WARNING"},
    },
}

# --- Sentry ---------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)

# --- Stripe (dj-stripe) -----------------------------------------------------
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_digis_localstripe")
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="pk_test_digis_localstripe")
_stripe_api_host = env("STRIPE_API_HOST", default="")
if _stripe_api_host:
    # Defined only when set: dj-stripe points the stripe client at this
    # setting whenever it merely exists, and warns in production if it does.
    STRIPE_API_HOST = _stripe_api_host
DJSTRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

# --- Agora ---------------------------------------------------------------
AGORA_APP_ID = env("AGORA_APP_ID", default="")
AGORA_APP_CERTIFICATE = env("AGORA_APP_CERTIFICATE", default="")
# Secret of Agora's Notification Center Service: channel join/leave events
# signed with it count as presence (calls/agora_events.py).
AGORA_NCS_SECRET = env("AGORA_NCS_SECRET", default="")

# --- Ledger ----------------------------------------------------------------
# Share of every charge the platform keeps, in basis points (2000 = 20 %,
# the creator keeps 80 %). Rounding always favours the creator.
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=2000)

if SENTRY_DSN:
    from digis.observability import init_sentry

    init_sentry(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)

# --- JWT (accounts) ---------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# --- calls (media: Agora tokens, WebRTC ICE servers, signalling) ---------------
# An Agora token lives for what the fan's balance covers plus this grace, and
# never longer than the cap; the page renews it when the SDK says it expires.
AGORA_TOKEN_GRACE_S = env.int("AGORA_TOKEN_GRACE_S", default=120)
AGORA_TOKEN_MAX_S = env.int("AGORA_TOKEN_MAX_S", default=4 * 3600)
# Peer-to-peer calls (no Agora): ICE servers handed to the browsers. Default
# none: two windows on one machine connect directly. With WEBRTC_TURN_SECRET
# (coturn use-auth-secret) TURN credentials are minted per user for the TTL.
WEBRTC_STUN_URLS = env.list("WEBRTC_STUN_URLS", default=[])
WEBRTC_TURN_URLS = env.list("WEBRTC_TURN_URLS", default=[])
WEBRTC_TURN_SECRET = env("WEBRTC_TURN_SECRET", default="")
WEBRTC_TURN_USERNAME = env("WEBRTC_TURN_USERNAME", default="")
WEBRTC_TURN_CREDENTIAL = env("WEBRTC_TURN_CREDENTIAL", default="")
WEBRTC_TURN_TTL_S = env.int("WEBRTC_TURN_TTL_S", default=6 * 3600)
# call.signal relay: largest payload (an SDP offer is a few KiB) and a flood
# guard per sender and call (ICE gathering sends a few dozen candidates).
CALL_SIGNAL_MAX_BYTES = env.int("CALL_SIGNAL_MAX_BYTES", default=32 * 1024)
CALL_SIGNAL_RATE = (env.int("CALL_SIGNAL_RATE_COUNT", default=200), env.int("CALL_SIGNAL_RATE_WINDOW_S", default=10))

# --- accounts ---------------------------------------------------------------
# Sign-in lockout: failed attempts per account and per client IP in a window
# (django-ratelimit rate strings, "5/15m" = 5 per 15 minutes).
ACCOUNTS_LOGIN_FAILURES_PER_ACCOUNT = env("ACCOUNTS_LOGIN_FAILURES_PER_ACCOUNT", default="5/15m")
ACCOUNTS_LOGIN_FAILURES_PER_IP = env("ACCOUNTS_LOGIN_FAILURES_PER_IP", default="5/15m")
ACCOUNTS_SIGNUP_RATE_PER_IP = env("ACCOUNTS_SIGNUP_RATE_PER_IP", default="10/h")
ACCOUNTS_RESET_RATE_PER_IP = env("ACCOUNTS_RESET_RATE_PER_IP", default="10/h")
ACCOUNTS_RESET_RATE_PER_EMAIL = env("ACCOUNTS_RESET_RATE_PER_EMAIL", default="3/h")
ACCOUNTS_VERIFY_MAX_AGE_S = env.int("ACCOUNTS_VERIFY_MAX_AGE_S", default=3 * 24 * 3600)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_S", default=3600)
ACCOUNTS_AVATAR_MAX_BYTES = env.int("ACCOUNTS_AVATAR_MAX_BYTES", default=5 * 1024 * 1024)
ACCOUNTS_AVATAR_MAX_PIXELS = env.int("ACCOUNTS_AVATAR_MAX_PIXELS", default=25_000_000)
ACCOUNTS_AVATAR_SIZE_PX = 512
# Moderators and admins must pass TOTP to use /admin/ (see accounts/admin.py).
ACCOUNTS_ADMIN_REQUIRES_OTP = env.bool("ACCOUNTS_ADMIN_REQUIRES_OTP", default=True)
OTP_TOTP_ISSUER = "Digis"

# --- ledger ---
# Platform-fee and Stripe-clearing account shards: each charge credits the
# shard its idempotency key hashes to, so neither account is one hot row. A
# shard's row stays locked from its UPDATE to the end of COMMIT (the WAL
# flush), so keep more shards than payments committing at once: with 16, a
# 64-payer tip storm spent ~8% of the server's CPU waiting on shard locks and
# ran ~6% slower than with 64 (bench/RESULTS.md, ledger). Reads sum the rows.
LEDGER_FEE_SHARDS = env.int("LEDGER_FEE_SHARDS", default=64)
CELERY_BEAT_SCHEDULE["ledger-check"] = {"task": "ledger.tasks.check_ledger", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["ledger-release-earnings"] = {
    "task": "ledger.tasks.release_pending_earnings",
    "schedule": env.float("LEDGER_RELEASE_EVERY_S", default=900.0),
}

# --- payments ---
# Purchase attempts per user (the original platform's figure), django-ratelimit syntax.
PAYMENTS_PURCHASE_RATE = "10/h"
# Seconds a webhook's signed timestamp may be old (Stripe's default tolerance).
STRIPE_WEBHOOK_TOLERANCE_S = 300
# A webhook delivery claims its event for this long; a claim older than this
# (a worker that died mid-way) may be taken over by the next delivery.
PAYMENTS_EVENT_LEASE_S = 60
STRIPE_MAX_NETWORK_RETRIES = 2
# A purchase not paid within this many seconds expires: its PaymentIntent is
# cancelled and it leaves the purchase history (payments.tasks, every 5 minutes).
PAYMENTS_PURCHASE_EXPIRE_S = env.int("PAYMENTS_PURCHASE_EXPIRE_S", default=30 * 60)
# The API schema names the purchase's status enum (calls have a "status" too).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["PurchaseStatusEnum"] = "payments.models.PurchaseStatus"
CELERY_BEAT_SCHEDULE["payments-expire-purchases"] = {"task": "payments.tasks.expire_abandoned_purchases", "schedule": 300.0}
# Stripe.js: the real one, or localstripe's stand-in when STRIPE_API_HOST is set.
STRIPE_JS_URL = f"{_stripe_api_host.rstrip('/')}/js.stripe.com/v3/" if _stripe_api_host else "https://js.stripe.com/v3/"

# --- calls (core: ringing, presence, billing, sweeper) ------------------------
# A ring unanswered this long is missed; an accepted call nobody connects to
# in CALL_CONNECT_TIMEOUT_S fails; a party silent for CALL_SILENCE_S is absent
# (heartbeats every 10 s); apart longer than CALL_RESUME_WINDOW_S -> dropped.
CALL_RING_TIMEOUT_S = env.int("CALL_RING_TIMEOUT_S", default=30)
CALL_CONNECT_TIMEOUT_S = env.int("CALL_CONNECT_TIMEOUT_S", default=60)
CALL_SILENCE_S = env.int("CALL_SILENCE_S", default=20)
CALL_RESUME_WINDOW_S = env.int("CALL_RESUME_WINDOW_S", default=60)
CALL_BUY_TOKENS_URL = env("CALL_BUY_TOKENS_URL", default="/wallet/buy/")
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["CallKindEnum"] = "calls.models.CallKind"
CELERY_BEAT_SCHEDULE["calls-sweep"] = {"task": "calls.tasks.sweep_calls", "schedule": 15.0}

# --- creators ---
# Creator cards (profile data on Explore, profiles, home) are cached this long;
# every change that shows on a card drops the entry (invalidate_creator_cache).
CREATORS_CARD_CACHE_S = env.int("CREATORS_CARD_CACHE_S", default=600)
# "Online now" and ?online=1 reuse one presence sweep over all creators this long.
CREATORS_ONLINE_CACHE_S = env.int("CREATORS_ONLINE_CACHE_S", default=10)
# Explore pages' ordered ids are shared this long by viewers who block nobody.
CREATORS_PAGE_CACHE_S = env.int("CREATORS_PAGE_CACHE_S", default=5)
# Anonymous viewers share a built Explore response (API data, page content)
# this long; any card change rebuilds it, availability is up to this old.
CREATORS_ANONYMOUS_CACHE_S = env.int("CREATORS_ANONYMOUS_CACHE_S", default=3)
# How long each web process answers anonymous Explore from its own copy of the
# shared response, without Redis; another process's card change shows after
# at most this long (creators.selectors.anonymous_explore_cached).
CREATORS_ANONYMOUS_LOCAL_S = env.float("CREATORS_ANONYMOUS_LOCAL_S", default=1.0)
# The sweep runs off the request path; its answer lives CREATORS_ONLINE_CACHE_S.
CELERY_BEAT_SCHEDULE["creators-online-sweep"] = {"task": "creators.tasks.sweep_online_creators", "schedule": 5.0}
# bench/explore.py serves a minimal baseline view next to the site.
if env.bool("CREATORS_BENCH_URLS", default=False):
    ROOT_URLCONF = "creators.bench_urls"

# --- messaging ---
# A fan's paid message is held in escrow until the creator replies; unanswered
# this many hours, the periodic job refunds it in full.
MESSAGE_REPLY_WINDOW_H = env.int("MESSAGE_REPLY_WINDOW_H", default=72)
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=2000)
# A sender may delete their own message for both people this long after sending.
MESSAGE_DELETE_WINDOW_S = env.int("MESSAGE_DELETE_WINDOW_S", default=15 * 60)
# Messages one person may send per minute (over the API, the socket and the pages together).
MESSAGE_RATE_PER_MINUTE = env.int("MESSAGE_RATE_PER_MINUTE", default=30)
MESSAGE_BROADCASTS_PER_HOUR = env.int("MESSAGE_BROADCASTS_PER_HOUR", default=3)
# Recipients per broadcast delivery task (one transaction each).
MESSAGE_BROADCAST_BATCH = env.int("MESSAGE_BROADCAST_BATCH", default=500)
MESSAGE_IMAGE_MAX_BYTES = env.int("MESSAGE_IMAGE_MAX_BYTES", default=8 * 1024 * 1024)
MESSAGE_IMAGE_MAX_SIDE_PX = 1600
# A broadcast's and a live stream's fields are both named "audience": the schema names each enum
# (otherwise drf-spectacular picks hashed names and warns, which the schema test refuses).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    BroadcastAudienceEnum="messaging.models.Broadcast.Audience", StreamAudienceEnum="streaming.models.Audience",
)
CELERY_BEAT_SCHEDULE["messaging-refund-due"] = {
    "task": "messaging.tasks.refund_due_messages",
    "schedule": env.float("MESSAGE_EXPIRY_SWEEP_S", default=60.0),
}

# --- streaming ---
# Room fan-out (digis/realtime/rooms.py): "process" sends a room's event once
# to each web process, which writes it to its own sockets; "group" puts every
# socket in a channels group per room (measured slower: docs/streaming.md).
REALTIME_ROOM_FANOUT = env("REALTIME_ROOM_FANOUT", default="process")
if REALTIME_ROOM_FANOUT not in ("process", "group"):
    raise ImproperlyConfigured('REALTIME_ROOM_FANOUT must be "process" or "group"')
REALTIME_ROOMS_LAYER = "rooms"
# Rooms travel over Redis pub/sub: a room's event is one PUBLISH, received once
# by each process subscribed to the room (nothing is queued per socket).
# Same Redis connection settings as the default layer (timeouts, keepalive, retry).
if REDIS_URL:
    CHANNEL_LAYERS["rooms"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": CHANNEL_LAYERS["default"]["CONFIG"]["hosts"], "prefix": env("CHANNELS_PREFIX", default="digis") + ":rooms"},
    }
else:
    CHANNEL_LAYERS["rooms"] = {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000, "expiry": 60}}
# Viewers' pages heartbeat every LIVE_HEARTBEAT_S; a viewer not heard from for
# LIVE_PRESENCE_TTL_S is no longer counted (sockets that drop without closing).
LIVE_HEARTBEAT_S = env.int("LIVE_HEARTBEAT_S", default=15)
LIVE_PRESENCE_TTL_S = env.int("LIVE_PRESENCE_TTL_S", default=45)
# A stream ends by itself when its host has been gone this long.
LIVE_HOST_GONE_S = env.int("LIVE_HOST_GONE_S", default=60)
# Tickets are refunded when a stream ends within this many minutes of its start.
LIVE_TICKET_REFUND_MINUTES = env.int("LIVE_TICKET_REFUND_MINUTES", default=5)
# Without Agora the host's browser sends its camera to each viewer itself; this
# many viewers is what one laptop sustained (bench/live_p2p.py, docs/streaming.md).
LIVE_P2P_MAX_VIEWERS = env.int("LIVE_P2P_MAX_VIEWERS", default=4)
# Agora tokens for a stream last this long; the page renews them (join again).
LIVE_AGORA_TOKEN_S = env.int("LIVE_AGORA_TOKEN_S", default=3600)
# Chat: messages a viewer may send per window (on top of slow mode), and how
# many recent messages a viewer gets on joining.
LIVE_CHAT_RATE = (env.int("LIVE_CHAT_RATE_COUNT", default=20), env.int("LIVE_CHAT_RATE_WINDOW_S", default=30))
LIVE_CHAT_HISTORY = env.int("LIVE_CHAT_HISTORY", default=50)
# The largest tip and ticket price, in tokens (a typo should not cost a fortune).
LIVE_TIP_MAX = env.int("LIVE_TIP_MAX", default=100_000)
LIVE_TICKET_MAX = env.int("LIVE_TICKET_MAX", default=100_000)
# A room's viewer count is pushed at most this often per web process.
LIVE_VIEWERS_PUSH_S = env.float("LIVE_VIEWERS_PUSH_S", default=2.0)
CELERY_BEAT_SCHEDULE["streaming-sweep"] = {
    "task": "streaming.tasks.sweep_streams",
    "schedule": env.float("LIVE_SWEEP_EVERY_S", default=10.0),
}

# --- notifications ---
# Web Push (VAPID, RFC 8292). Without both keys web push is off and the
# settings page says so. `manage.py generate_vapid_keys` prints a pair.
VAPID_PUBLIC_KEY = env("VAPID_PUBLIC_KEY", default="")
VAPID_PRIVATE_KEY = env("VAPID_PRIVATE_KEY", default="")
# Who push services contact about our pushes (mailto: or https: URL).
VAPID_SUBJECT = env("VAPID_SUBJECT", default="mailto:admin@digis.local")
# Subscription endpoints must be https on a push service's host (suffix
# match); the stand-in push service of the tests and local development lives
# on http://127.0.0.1, which only WEBPUSH_ALLOW_INSECURE_ENDPOINTS admits.
WEBPUSH_ENDPOINT_HOSTS = env.list(
    "WEBPUSH_ENDPOINT_HOSTS",
    default=["fcm.googleapis.com", ".push.services.mozilla.com", ".notify.windows.com", ".push.apple.com"],
)
WEBPUSH_ALLOW_INSECURE_ENDPOINTS = env.bool("WEBPUSH_ALLOW_INSECURE_ENDPOINTS", default=False)
# Seconds to wait for a push service before counting the attempt failed.
WEBPUSH_TIMEOUT_S = env.float("WEBPUSH_TIMEOUT_S", default=10.0)
# Followers notified per Celery task when a creator goes live.
NOTIFICATIONS_FANOUT_BATCH = env.int("NOTIFICATIONS_FANOUT_BATCH", default=500)

# --- payouts ---
# Creators' earnings turned into money (docs/payouts.md). The rate is what a
# token is worth when paid out: below the cheapest token bought (USD 0.079 in
# the largest package) so refunds, disputes and card fees stay covered.
PAYOUT_CENTS_PER_TOKEN = env.int("PAYOUT_CENTS_PER_TOKEN", default=5)
PAYOUT_CURRENCY = env("PAYOUT_CURRENCY", default="usd").lower()
# Each earning becomes payable this long after it was earned (a chargeback of
# a recent purchase can still be recovered first).
PAYOUT_HOLD_DAYS = env.int("PAYOUT_HOLD_DAYS", default=7)
PAYOUT_MIN_TOKENS = env.int("PAYOUT_MIN_TOKENS", default=400)
# A creator's first payout and any payout above this wait for staff approval.
PAYOUT_REVIEW_ABOVE_TOKENS = env.int("PAYOUT_REVIEW_ABOVE_TOKENS", default=20_000)
# Creators on the weekly schedule are paid once a week, on or after this day.
PAYOUT_WEEKLY_DAY = env("PAYOUT_WEEKLY_DAY", default="monday").lower()
# "stripe" (Stripe Connect Express) and/or "manual" (an operator's bank transfer).
PAYOUT_METHODS = env.list("PAYOUT_METHODS", default=["stripe", "manual"])
# A worker sending a payout holds it this long; after, the sweep may take it over.
PAYOUT_SEND_LEASE_S = env.int("PAYOUT_SEND_LEASE_S", default=600)
# A sent payout Stripe has said nothing about for this long is looked up.
PAYOUT_RECONCILE_AFTER_S = env.int("PAYOUT_RECONCILE_AFTER_S", default=6 * 3600)
# Signing secret of Stripe's Connect webhook endpoint (events of connected
# accounts), when it is a separate endpoint from STRIPE_WEBHOOK_SECRET's.
STRIPE_CONNECT_WEBHOOK_SECRET = env("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
if PAYOUT_CENTS_PER_TOKEN <= 0 or PAYOUT_HOLD_DAYS < 0 or PAYOUT_MIN_TOKENS <= 0:
    raise ImproperlyConfigured("PAYOUT_CENTS_PER_TOKEN and PAYOUT_MIN_TOKENS must be positive, PAYOUT_HOLD_DAYS not negative")
if PAYOUT_WEEKLY_DAY not in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
    raise ImproperlyConfigured("PAYOUT_WEEKLY_DAY is a weekday name (monday ... sunday)")
if not set(PAYOUT_METHODS) <= {"stripe", "manual"} or not PAYOUT_METHODS:
    raise ImproperlyConfigured("PAYOUT_METHODS is a list of stripe and/or manual")
CELERY_BEAT_SCHEDULE["payouts-sweep"] = {
    "task": "payouts.tasks.sweep_payouts",
    "schedule": env.float("PAYOUT_SWEEP_EVERY_S", default=60.0),
}
CELERY_BEAT_SCHEDULE["payouts-weekly"] = {"task": "payouts.tasks.create_scheduled_payouts", "schedule": 3600.0}
# The schema names the payouts' choice sets (a status, a bank scheme and a
# method are used by several serializers, and the account setup's two shapes
# each fix `method` to one value; drf-spectacular would otherwise invent names).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "PayoutStatusEnum": "payouts.models.PayoutStatus", "BankSchemeEnum": "payouts.models.BankScheme",
        "PayoutMethodEnum": "payouts.models.PayoutMethod", "PayoutMethodStripeEnum": ["stripe"],
        "PayoutMethodManualEnum": ["manual"],
    }
)

# --- moderation ---
# Content reported by this many different people is hidden until a moderator
# reviews it (0 turns automatic hiding off).
MODERATION_AUTO_HIDE_REPORTS = env.int("MODERATION_AUTO_HIDE_REPORTS", default=3)
# Reports one person may file per hour (the API answers 429 report_rate_limited).
MODERATION_REPORTS_PER_HOUR = env.int("MODERATION_REPORTS_PER_HOUR", default=10)
# Two serializers show a report's status: one enum in the schema, named for it.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["ReportStatusEnum"] = "moderation.models.ReportStatus"

# --- analytics ---
# The console's days are days in this zone; rollups are stored per UTC hour.
ANALYTICS_TIME_ZONE = env("ANALYTICS_TIME_ZONE", default="UTC")
# Each web process writes its per-route latencies and active users this often
# (a background thread; 0 = only when flushed explicitly, as the tests do).
ANALYTICS_FLUSH_S = env.float("ANALYTICS_FLUSH_S", default=0.0 if TESTING else 10.0)
# The rollup job fills hours that ended at least this long ago, recomputes the
# last ANALYTICS_REFILL_HOURS on every run (late writes), a chunk per transaction.
ANALYTICS_FILL_LAG_S = env.int("ANALYTICS_FILL_LAG_S", default=300)
ANALYTICS_REFILL_HOURS = env.int("ANALYTICS_REFILL_HOURS", default=2)
ANALYTICS_FILL_CHUNK_HOURS = env.int("ANALYTICS_FILL_CHUNK_HOURS", default=24)
ANALYTICS_FILL_CHUNK_DAYS = env.int("ANALYTICS_FILL_CHUNK_DAYS", default=31)
CELERY_BEAT_SCHEDULE["analytics-fill"] = {
    "task": "analytics.tasks.fill_rollups",
    "schedule": env.float("ANALYTICS_FILL_EVERY_S", default=300.0),
}
