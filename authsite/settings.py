"""Django settings for authsite.

Every knob comes from the environment (the README's configuration table, docs/contract.md); this
is the only module that reads it.
Unset variables fall back to embedded defaults that need no server: a SQLite database, the
database as the shared revocation/throttle store, and a filesystem Celery broker.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Git-ignored folder for everything the embedded defaults write (SQLite, broker, secret, metrics).
VAR_DIR = Path(os.environ.get("AUTHSITE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def _env_flag(name: str, default: bool) -> bool:
    """`1` on, `0` off, unset the default."""
    raw = _env(name)
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise ImproperlyConfigured(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"


def _env_rate(name: str, default: str) -> tuple[int, int]:
    """Parse a COUNT/SECONDS limit; (0, 0) disables it."""
    raw = _env(name, default)
    try:
        count, seconds = (int(part) for part in raw.split("/"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must look like COUNT/SECONDS, got {raw!r}") from exc
    if count < 0 or seconds < 0 or (count == 0) != (seconds == 0):
        raise ImproperlyConfigured(f"{name}: use positive COUNT/SECONDS, or 0/0 to disable")
    return count, seconds


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


DEBUG = _env("DJANGO_DEBUG") == "1"
DATABASE_URL = _env("DATABASE_URL")
REDIS_URL = _env("REDIS_URL")
EMBEDDED = not DATABASE_URL and not REDIS_URL

# --- Secret key: required in production; generated once for debug / embedded use. ---
SECRET_KEY = _env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required in production (DATABASE_URL or REDIS_URL set, "
            "DJANGO_DEBUG off). It also protects signing keys at rest: keep it stable."
        )
    _secret_file = VAR_DIR / "secret_key"
    if not _secret_file.exists():
        fd = os.open(_secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    SECRET_KEY = _secret_file.read_text().strip()
# Earlier secret keys, newest first: still accepted for signed values and for decrypting
# signing keys, which are then re-encrypted under SECRET_KEY (rotation without downtime).
SECRET_KEY_FALLBACKS = [k.strip() for k in _env("DJANGO_SECRET_KEY_FALLBACKS").split(",") if k.strip()]

ALLOWED_HOSTS = [h.strip() for h in _env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "authsite.kit.apps.KitConfig",
    "accounts",
    "tokens",
    "pages",
]

# API paths run only natively-async middleware: every MiddlewareMixin costs a thread hop per
# request under ASGI. Browser pages (admin) get the classic stack via BrowserOnly.
MIDDLEWARE = [
    "authsite.kit.middleware.RequestContextMiddleware",
    "authsite.kit.middleware.BrowserOnlyMiddleware",
]
BROWSER_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "authsite.kit.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.KnownClientCookieMiddleware",
]
# Django's own checks look for these in MIDDLEWARE; authsite.kit.checks checks BROWSER_MIDDLEWARE.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "security.W001", "security.W002",
                          "security.W003",
                          # HSTS includeSubDomains and preload are opt-in settings.
                          "security.W005", "security.W021"]
# Path prefixes served without the browser middleware.
API_PATH_PREFIXES = ("/api/", "/.well-known/", "/healthz", "/readyz", "/metrics")
API_MAX_BODY_BYTES = 16 * 1024
# Checks the credentials of `authenticated=True` API views and sets request.auth.
API_AUTHENTICATOR = "tokens.auth.aauthenticate"
# Maps exception classes to HTTP answers (authsite.kit.errors.response_for).
API_ERROR_TABLE = "authsite.errors.ERRORS"

ROOT_URLCONF = "authsite.urls"
ASGI_APPLICATION = "authsite.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database: PostgreSQL (psycopg 3 with Django's pool) or the embedded SQLite file. ---
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "authsite.sqlite3")}
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every ORM call may run on a different thread, so CONN_MAX_AGE cannot keep
    # connections; the pool can.
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": 8, "timeout": 5}
    _db["OPTIONS"].setdefault("connect_timeout", 5)
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DATABASES = {"default": _db}
# Connections per event loop (one per worker) of the hot paths' async pool on PostgreSQL
# (authsite.kit.asyncdb: no thread hop); 0: they use the ORM, as on SQLite.
ASYNC_DB_POOL_SIZE = _env_int("ASYNC_DB_POOL_SIZE", 4)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Shared fast store (cache, revocation fast path, throttle counters). ---
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    }

# --- Celery ---
CELERY_BROKER_URL = _env("CELERY_BROKER_URL", REDIS_URL) or "filesystem://"
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL == "filesystem://":
    for _sub in ("in", "processed", "control"):
        (CELERY_BROKER_FOLDER / _sub).mkdir(parents=True, exist_ok=True)
    # Every folder under var/: kombu's default control folder is relative to the working directory.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "data_folder_in": str(CELERY_BROKER_FOLDER / "in"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "in"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
# Periodic housekeeping (`celery -A authsite beat`): expired rows never pile up.
CELERY_BEAT_SCHEDULE = {
    "purge-expired-tokens": {"task": "tokens.tasks.purge_expired", "schedule": 3600.0},
    "purge-expired-throttle-counters": {"task": "accounts.tasks.purge_expired_counters", "schedule": 900.0},
    "hash-inventory": {"task": "accounts.tasks.take_inventory", "schedule": 600.0, "options": {"queue": "bulk"}},
    "purge-old-mail-deliveries": {"task": "accounts.tasks.purge_mail_deliveries", "schedule": 3600.0},
}
# Bulk work (wrapping hashes, imports) runs on its own queue so that it never delays the
# interactive tasks on the default queue: run a worker per queue (`-Q celery`, `-Q bulk`).
CELERY_TASK_ROUTES = {f"accounts.tasks.{name}": {"queue": "bulk"} for name in ("wrap_batch", "import_batch", "take_inventory")}
# Users per wrap task (each costs one Argon2 hash) and rows per import insert.
WRAP_BATCH_SIZE = _env_int("WRAP_BATCH_SIZE", 100, minimum=1)
IMPORT_BATCH_SIZE = _env_int("IMPORT_BATCH_SIZE", 2000, minimum=1)
# Ended sessions stay visible to staff (admin) this long before they are purged.
SESSION_HISTORY_DAYS = 30
# Login attempts (the staff audit log) older than this are purged with the throttle counters.
LOGIN_ATTEMPT_RETENTION_DAYS = _env_int("LOGIN_ATTEMPT_RETENTION_DAYS", 90, minimum=1)
# The audit log is written in batches by a background thread of each process (accounts.attempts):
# at most this many seconds after the attempt, sooner once a batch is full; an unreachable
# database keeps at most LOGIN_ATTEMPT_BUFFER_LIMIT rows waiting (the oldest are dropped first).
LOGIN_ATTEMPT_FLUSH_SECONDS = 1.0
LOGIN_ATTEMPT_BATCH = 500
LOGIN_ATTEMPT_BUFFER_LIMIT = 50_000

# --- Users and passwords ---
AUTH_USER_MODEL = "accounts.User"
# Django's own login pages (admin) go through the API's policy: throttles, bounded hashing.
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 2, minimum=1)
ARGON2_MEMORY_COST = _env_int("ARGON2_MEMORY_COST", 19456, minimum=8)
ARGON2_PARALLELISM = _env_int("ARGON2_PARALLELISM", 1, minimum=1)
HASH_WORKERS = _env_int("HASH_WORKERS", _cpus(), minimum=1)
HASH_QUEUE_LIMIT = _env_int("HASH_QUEUE_LIMIT", 4 * HASH_WORKERS, minimum=0)
# Nice value of hashing threads: keeps the event loop thread ahead of them.
HASH_THREAD_NICE = _env_int("HASH_THREAD_NICE", 10, minimum=0)
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "accounts.legacy_hashers.BCryptSHA256Hasher",
    "accounts.legacy_hashers.BCryptHasher",
    "accounts.legacy_hashers.ScryptHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "accounts.legacy_hashers.SHA1Hasher",
    "accounts.legacy_hashers.UnsaltedMD5Hasher",
    "accounts.legacy_hashers.UnsaltedSHA1Hasher",
    *(f"accounts.legacy_hashers.Wrapped{_kind}Hasher" for _kind in (
        "UnsaltedMd5", "Md5", "UnsaltedSha1", "Sha1", "Pbkdf2Sha256", "Pbkdf2Sha1", "Bcrypt", "BcryptSha256")),
]
# Cost limits for stored hashes: beyond them a hash is refused at import, and at login it is
# never computed (the attempt fails like a wrong password).
PASSWORD_LIMIT_ARGON2_MEMORY = _env_int("PASSWORD_LIMIT_ARGON2_MEMORY", 262144, minimum=8)  # KiB
PASSWORD_LIMIT_ARGON2_TIME = _env_int("PASSWORD_LIMIT_ARGON2_TIME", 16, minimum=1)
PASSWORD_LIMIT_ARGON2_PARALLELISM = _env_int("PASSWORD_LIMIT_ARGON2_PARALLELISM", 16, minimum=1)
PASSWORD_LIMIT_BCRYPT_ROUNDS = _env_int("PASSWORD_LIMIT_BCRYPT_ROUNDS", 14, minimum=4)
PASSWORD_LIMIT_PBKDF2_ITERATIONS = _env_int("PASSWORD_LIMIT_PBKDF2_ITERATIONS", 3_000_000, minimum=1)
PASSWORD_LIMIT_SCRYPT_N = _env_int("PASSWORD_LIMIT_SCRYPT_N", 2**16, minimum=2)
PASSWORD_LIMIT_SCRYPT_R = _env_int("PASSWORD_LIMIT_SCRYPT_R", 16, minimum=1)
PASSWORD_LIMIT_SCRYPT_P = _env_int("PASSWORD_LIMIT_SCRYPT_P", 4, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
EMAIL_MAX_LENGTH = 254
# Every failed login is padded (sleeping, no CPU) up to the cost of failing against the
# slowest hash kind present, measured per process, times this margin for noise.
LOGIN_FAILURE_FLOOR_MARGIN = 1.25
# How often a process re-reads which hash kinds are present and re-measures their cost.
LOGIN_FAILURE_FLOOR_REFRESH_SECONDS = 300

# --- Throttling (failed logins): (count, seconds); (0, 0) disables ---
THROTTLE_ACCOUNT_IP = _env_rate("THROTTLE_ACCOUNT_IP", "5/900")
THROTTLE_ACCOUNT = _env_rate("THROTTLE_ACCOUNT", "50/900")
THROTTLE_IP = _env_rate("THROTTLE_IP", "100/900")
TRUSTED_PROXY_COUNT = _env_int("TRUSTED_PROXY_COUNT", 0)
# A client that logged in to an account before ("known client", proven by the signed token it
# got then) is counted per client instead of against THROTTLE_ACCOUNT: strangers cannot lock
# the owner out. Tokens are valid this long (seconds).
KNOWN_CLIENT_TTL = _env_int("KNOWN_CLIENT_TTL", 180 * 86400, minimum=1)
KNOWN_CLIENT_COOKIE = "authsite_client"

# --- Mail: Django's email settings under Django's names; the console backend when no host ---
EMAIL_HOST = _env("EMAIL_HOST")
EMAIL_PORT = _env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = _env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = _env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = _env_flag("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_flag("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                 else "django.core.mail.backends.console.EmailBackend")
# A hung SMTP server must not hold a Celery worker: the attempt fails and is retried.
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "authsite <noreply@localhost>")
# The address people open mailed links at (scheme, host and optional path prefix).
PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
PASSWORD_RESET_TTL = _env_int("PASSWORD_RESET_TTL", 3600, minimum=60)
PASSWORD_RESET_TIMEOUT = PASSWORD_RESET_TTL  # Django's name for the same thing
EMAIL_VERIFICATION_TTL = _env_int("EMAIL_VERIFICATION_TTL", 259200, minimum=60)
# Login of an account whose email is not verified is refused (403 email_unverified).
REQUIRE_VERIFIED_EMAIL = _env_flag("REQUIRE_VERIFIED_EMAIL", False)
# Reset and verification mails asked for, per address and per client IP (every request counts).
THROTTLE_MAIL_EMAIL = _env_rate("THROTTLE_MAIL_EMAIL", "3/900")
THROTTLE_MAIL_IP = _env_rate("THROTTLE_MAIL_IP", "20/900")
# A mail whose SMTP attempt fails is retried this many times, waiting up to
# MAIL_RETRY_BACKOFF * 2**n seconds (full jitter, capped at MAIL_RETRY_BACKOFF_MAX).
MAIL_RETRY_LIMIT = _env_int("MAIL_RETRY_LIMIT", 5)
MAIL_RETRY_BACKOFF = 10
MAIL_RETRY_BACKOFF_MAX = 600
# Delivery records (at most one mail per request) are kept this long.
MAIL_DELIVERY_HISTORY_DAYS = 7

# --- Tokens ---
ACCESS_TOKEN_TTL = _env_int("ACCESS_TOKEN_TTL", 600, minimum=1)
REFRESH_TOKEN_TTL = _env_int("REFRESH_TOKEN_TTL", 1209600, minimum=1)
# No refresh extends a session beyond this age (seconds since login).
SESSION_MAX_AGE = _env_int("SESSION_MAX_AGE", 30 * 86400, minimum=1)
# Refreshes allowed per session: COUNT/SECONDS, 0/0 disables.
THROTTLE_REFRESH = _env_rate("THROTTLE_REFRESH", "30/600")
# A refresh token presented again this soon after its rotation, while its successor is still
# unused, is a retry of a lost answer (not reuse): it gets a new pair and the successor dies.
REFRESH_RETRY_GRACE = _env_int("REFRESH_RETRY_GRACE", 10)
JWT_ISSUER = _env("JWT_ISSUER", "authsite")
JWT_AUDIENCE = _env("JWT_AUDIENCE", "authsite")
# Clock skew tolerated when checking exp/iat, seconds.
JWT_LEEWAY = 5
# How long a worker trusts its in-memory copy of the active signing key before re-reading it.
SIGNING_KEY_REFRESH_SECONDS = 30
# Redis keeps a revocation this much longer than the last access token it covers could live
# (clock skew between machines, a token signed late in its second).
REVOCATION_KEY_MARGIN = 120
# How often each server process compares Redis's revocation sequence with the database's and
# publishes revocations another process committed but could not publish.
REVOCATION_POLL_SECONDS = 1.0
# How often each server process re-reads Redis's maxmemory policy.
REDIS_POLICY_CHECK_SECONDS = 10.0
VERIFIED_TOKEN_CACHE_SIZE = 50_000
WEB_CONCURRENCY = _env_int("WEB_CONCURRENCY", _cpus(), minimum=1)

# --- Security ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Production (a database or Redis configured, DEBUG off) is served over HTTPS: browser pages
# redirect there, and HTTPS responses carry HSTS (API ones via RequestContextMiddleware).
# The embedded single-machine mode keeps plain http://127.0.0.1 usable, and so does
# DJANGO_SECURE_SSL_REDIRECT=0 (a stack on localhost with no TLS in front, as docker-compose.yml).
SECURE_SSL_REDIRECT = _env_flag("DJANGO_SECURE_SSL_REDIRECT", not (DEBUG or EMBEDDED))
# Over HTTPS the session and CSRF cookies are Secure; where plain http is allowed (debug, the
# embedded mode, DJANGO_SECURE_SSL_REDIRECT=0) a browser would otherwise drop them.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
# Both bind more than this host (every subdomain; browsers' preload lists): opt-in only.
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env("SECURE_HSTS_INCLUDE_SUBDOMAINS") == "1"
SECURE_HSTS_PRELOAD = _env("SECURE_HSTS_PRELOAD") == "1"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
if TRUSTED_PROXY_COUNT > 0:
    # Behind TLS-terminating proxies the scheme comes from the proxy (which must set this
    # header itself); without it SECURE_SSL_REDIRECT would loop. With no proxy declared the
    # header is ignored, so a client cannot claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# `manage.py collectstatic` (run by the Docker build) writes content-hashed, compressed copies
# here, cached by browsers for a year; until it runs, files are served from the apps' folders.
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "authsite.kit.staticfiles.StaticStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Metrics: prometheus-client multiprocess mode (every worker writes, /metrics sums) ---
# prometheus_client reads this variable when it is first imported, so it is exported here,
# before any module of ours imports it (the kit's metrics plumbing runs after settings load).
PROMETHEUS_MULTIPROC_DIR = Path(_env("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
# A scrape older than this triggers a background refresh of the users-by-hash-status gauge.
METRICS_REFRESH_SECONDS = 60
# /metrics answers only clients in these networks, or requests with `Authorization: Bearer
# $METRICS_TOKEN` when that is set; anyone else gets 404.
METRICS_ALLOWED_NETWORKS = [n.strip() for n in _env(
    "METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
).split(",") if n.strip()]
for _net in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_net!r} is not a network") from _exc
METRICS_TOKEN = _env("METRICS_TOKEN")

# --- Logs: one JSON object per line (with the request id) unless DEBUG ---
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "authsite.kit.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"()": "authsite.kit.logging.PlainFormatter",
                  "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "authsite.kit.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain" if DEBUG else "json",
                             "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": "INFO" if not DEBUG else "DEBUG"},
    # django.request logs every 4xx answer as a WARNING; those are expected answers (a wrong password, a
    # bad token), so only 5xx (ERROR) reach the log.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}
