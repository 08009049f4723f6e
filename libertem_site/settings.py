"""Settings of LiberTEM Portal, driven by environment variables.

Without any variable set the portal runs in the *embedded default*: SQLite (WAL) in ``var/``,
the in-memory channel layer, jobs in a background thread of the web process, and a dask
``LocalCluster`` on 127.0.0.1 started on first use. A facility sets ``DATABASE_URL``,
``REDIS_URL``, ``DASK_SCHEDULER_ADDRESS``, ``SECRET_KEY``, ``ALLOWED_HOSTS`` and
``DATA_ROOTS`` (see README.md).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from libertem_site.env import env_bool, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
PRODUCTION = DATABASE_URL is not None

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "The environment variable SECRET_KEY must be set when DATABASE_URL is set "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    # Embedded default: a random key kept next to the SQLite database.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Not "daphne": its app imports its server (Twisted, autobahn) in every process that sets Django
# up, 0.3 s of CPU before ``manage.py analyze`` starts; ``manage.py serve`` imports it itself.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "apps.accounts",
    "apps.datasets",
    "apps.jobs",
    "apps.results",
    "apps.live",
    "apps.acquisition",
    "apps.portal",
]

MIDDLEWARE = [
    "libertem_site.middleware.AccessLogMiddleware",
    "libertem_site.middleware.LostDatabaseMiddleware",
    "libertem_site.middleware.MonitorHealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.TokenAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "libertem_site.urls"
ASGI_APPLICATION = "libertem_site.asgi.application"

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

if DATABASE_URL:
    # Daphne runs each request's sync code in a thread of its own: a persistent connection per
    # thread adds up to "too many clients" under load, so connections close after each request,
    # or (DB_POOL_SIZE > 0, the Procfile's web process) come from a bounded psycopg pool.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0),
            # A kept or pooled connection the server ended (a restart, a failover, an idle
            # session killer) is replaced before a request uses it, not handed out to fail
            # (Django checks kept ones; the pool checks each on checkout, one round trip).
            conn_health_checks=True,
        )
    }
    DB_POOL_SIZE = env_int("DB_POOL_SIZE", 0, minimum=0)
    if DB_POOL_SIZE and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_SIZE,
            "timeout": 30,
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "portal.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A connection per thread, kept: opening one (with the WAL pragmas) took 3-6 ms of
            # every request and of every job's start. SQLite has no connection limit to exhaust.
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 600, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            # Tests run job threads and websocket consumers beside the test: they need a file
            # database (in-memory SQLite fails with "table is locked" instead of waiting).
            "TEST": {
                "NAME": str(Path(tempfile.gettempdir()) / f"portal-test-{os.getpid()}.sqlite3")
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long a job's driver retries a statement whose connection was lost (a database restart).
DB_RETRY_SECONDS = env_int("DB_RETRY_SECONDS", 60, minimum=0)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # After a Redis restart a pooled connection is dead: this layer reconnects and retries
            # once instead of failing the next websocket join or event.
            "BACKEND": "libertem_site.channel_layer.RetryingRedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Jobs: "celery" sends run_job to Celery workers; "thread" runs it in the web process.
JOB_RUNNER = env_str("JOB_RUNNER", "celery" if REDIS_URL else "thread")
# The Celery app that sends them, imported when the first job is sent (not at Django's setup).
JOB_QUEUE_APP = "libertem_site.celery.app"
if JOB_RUNNER not in {"celery", "thread"}:
    raise ImproperlyConfigured(f"JOB_RUNNER must be 'celery' or 'thread', got {JOB_RUNNER!r}.")
if JOB_RUNNER == "celery" and not REDIS_URL:
    raise ImproperlyConfigured("JOB_RUNNER=celery needs REDIS_URL (the Celery broker).")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes a worker's database connections around every task unless this is set; the job
# task drops them itself when DB_CONN_MAX_AGE says so (apps.jobs.tasks.run_job).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600, minimum=60)
}
# A running job needs no broker: a lost broker connection must not kill it (its ack is moot).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Reliability and fairness (docs/jobs.md): the reaper runs every JOB_REAPER_INTERVAL seconds
# (Celery beat, or a timer thread of the web process with JOB_RUNNER=thread).
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 5, minimum=1)
JOB_HEARTBEAT_TIMEOUT = env_int("JOB_HEARTBEAT_TIMEOUT", 60, minimum=2)
JOB_QUEUED_TIMEOUT = env_int("JOB_QUEUED_TIMEOUT", 120, minimum=1)
JOB_REAPER_INTERVAL = env_int("JOB_REAPER_INTERVAL", 30, minimum=1)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2, minimum=1)
# Live sessions (docs/live.md): how long a detector's stream may be silent once frames flow,
# and how long the first frame may take after arming, in seconds.
LIVE_STREAM_TIMEOUT = env_int("LIVE_STREAM_TIMEOUT", 10, minimum=1)
LIVE_FIRST_FRAME_TIMEOUT = env_int("LIVE_FIRST_FRAME_TIMEOUT", 60, minimum=1)
MAX_RUNNING_JOBS_PER_USER = env_int("MAX_RUNNING_JOBS_PER_USER", 2, minimum=1)
MAX_DATASET_BYTES = env_int("MAX_DATASET_BYTES", 2**40, minimum=1)  # 1 TiB
# A dataset's files are hashed whole up to this many bytes together, beyond it by samples
# (apps/core/identity.py, docs/cache.md).
DATASET_FULL_HASH_BYTES = env_int("DATASET_FULL_HASH_BYTES", 256 * 2**20, minimum=0)
# Each partition is a task per job and a row of the dataset's JSON; a sidecar of thousands of
# one-frame partitions makes every job slow and every page heavy.
MAX_PARTITIONS_PER_DATASET = env_int("MAX_PARTITIONS_PER_DATASET", 4096, minimum=1)
# The catalogue's thumbnails (mean frame, annular dark field): a background job per dataset at
# registration (off: only on request and by ``manage.py thumbnails``).
THUMBNAILS_ON_REGISTER = env_bool("THUMBNAILS_ON_REGISTER", True)
# Jobs of one user waiting ``queued``: more are refused (429) instead of piling up.
MAX_QUEUED_JOBS_PER_USER = env_int("MAX_QUEUED_JOBS_PER_USER", 50, minimum=1)
# Quotas (docs/deploy.md): result-store bytes and compute seconds (run time of the jobs that
# ended in the last QUOTA_COMPUTE_DAYS days, and of running ones) per user and per group; a job
# over one is refused at submission. 0 is no limit; staff override them per user or group.
QUOTA_USER_RESULT_BYTES = env_int("QUOTA_USER_RESULT_BYTES", 0, minimum=0)
QUOTA_USER_COMPUTE_SECONDS = env_int("QUOTA_USER_COMPUTE_SECONDS", 0, minimum=0)
QUOTA_GROUP_RESULT_BYTES = env_int("QUOTA_GROUP_RESULT_BYTES", 0, minimum=0)
QUOTA_GROUP_COMPUTE_SECONDS = env_int("QUOTA_GROUP_COMPUTE_SECONDS", 0, minimum=0)
QUOTA_COMPUTE_DAYS = env_int("QUOTA_COMPUTE_DAYS", 30, minimum=1)
CELERY_TASK_ROUTES = {"jobs.reap": {"queue": "maintenance"}}
CELERY_BEAT_SCHEDULE = {
    "reap-jobs": {
        "task": "jobs.reap",
        "schedule": float(JOB_REAPER_INTERVAL),
        "options": {"expires": float(JOB_REAPER_INTERVAL)},
    }
}

# Compute: a scheduler address, or None for a LocalCluster on 127.0.0.1.
DASK_SCHEDULER_ADDRESS = env_str("DASK_SCHEDULER_ADDRESS")
DASK_LOCAL_WORKERS = env_int("DASK_LOCAL_WORKERS", 0, minimum=0)  # 0: one per core
# Per dask worker of the LocalCluster: "auto" (the machine's memory / workers) or e.g. "4GiB";
# a worker above it is restarted, so one job cannot take the node down.
DASK_WORKER_MEMORY_LIMIT = env_str("DASK_WORKER_MEMORY_LIMIT", "auto")
# dask reads its configuration from the environment when first imported (here and in the
# worker processes it spawns): keep its routine INFO chatter out of the portal's log.
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", env_str("DASK_LOG_LEVEL", "warning"))

# Data: folders users may register datasets from, separated by ":" like PATH (resolved).
DATA_ROOTS = [
    Path(p).expanduser().resolve()
    for p in env_list("DATA_ROOTS", [str(BASE_DIR / "data")], sep=os.pathsep)
]
DATA_NODES = env_json("DATA_NODES", {})
if not isinstance(DATA_NODES, dict):
    raise ImproperlyConfigured('DATA_NODES must be a JSON object {"node-name": "/storage/root"}.')
# Compute faults (docs/deploy.md): a dask worker without a heartbeat for DASK_WORKER_HUNG_SECONDS
# is reported hung; the workers named in DASK_EXPECTED_WORKERS (default: the DATA_NODES) are
# reported missing while not connected; a partition that no worker can run (all paused, hung or
# gone) for JOB_UNRUNNABLE_SECONDS fails its job with the reason.
DASK_WORKER_HUNG_SECONDS = env_int("DASK_WORKER_HUNG_SECONDS", 10, minimum=1)
DASK_EXPECTED_WORKERS = env_list("DASK_EXPECTED_WORKERS", [str(n) for n in DATA_NODES])
JOB_UNRUNNABLE_SECONDS = env_int("JOB_UNRUNNABLE_SECONDS", 60, minimum=1)
# Sidecars of ingested datasets; must be readable where jobs are driven (web and Celery).
INGEST_ROOT = Path(env_str("INGEST_ROOT", str(VAR_DIR / "ingested")))

MAX_MASK_UPLOAD_BYTES = env_int("MAX_MASK_UPLOAD_BYTES", 256 * 2**20, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2**20
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 2**20
JOB_PROGRESS_INTERVAL = 0.1  # seconds between progress writes / partial images per job

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Identity (docs/security.md, "Identity and sign-in"). The portal's own address, for links that
# commands print (createuser --invite, loginlink); pages build links from the request instead.
PORTAL_URL = env_str("PORTAL_URL", "http://127.0.0.1:8000")
# django-axes first: it refuses a locked-out username + address before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Invitation and password-reset links (Django's reset tokens) work once, for this long.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_LINK_DAYS", 3, minimum=1) * 86400
# "Forgot your password?" mails a reset link: through SMTP when EMAIL_HOST is set, otherwise
# printed on the web process's console (the embedded default has no mail server).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "libertem-portal@localhost")
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused for LOGIN_COOLOFF_MINUTES; staff reset it earlier in
# the admin (Access attempts) or with ``manage.py axes_reset_username``.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Reverse proxies in front of the portal that append to X-Forwarded-For (nginx: 1); 0 trusts
# only the connection's address.
PROXY_COUNT = env_int("PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "apps.accounts.throttle.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# Single sign-on with OpenID Connect (apps/accounts/oidc.py): on when OIDC_ISSUER is set. The
# provider's endpoints come from its discovery document; register the redirect URI
# <portal>/oidc/callback/ at the provider.
OIDC_ISSUER = env_str("OIDC_ISSUER")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# Members of this provider group are portal admins; unset: staff status is managed in the admin.
OIDC_STAFF_GROUP = env_str("OIDC_STAFF_GROUP")
OIDC_BUTTON_LABEL = env_str("OIDC_BUTTON_LABEL", "Sign in with your facility account")
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10, minimum=1)
OIDC_USE_PKCE = True
if OIDC_ISSUER:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set too (the "
            "portal's client at the provider)."
        )
    AUTHENTICATION_BACKENDS.append("apps.accounts.oidc.PortalOIDCBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# HTTPS hardening: on by default when DATABASE_URL marks a facility deployment.
HTTPS = env_bool("HTTPS", PRODUCTION)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None


def _monitor_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list("MONITOR_NETWORKS", []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"MONITOR_NETWORKS must be comma-separated networks like 10.0.0.0/24, got {item!r}."
            ) from None
    return networks


# Besides loopback, the networks whose plain-HTTP GET /healthz is answered, not redirected.
MONITOR_NETWORKS = _monitor_networks()
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, images and connections (fetch and the
# job websockets) from the portal itself only; no inline script, style attribute or event
# handler anywhere (templates and static/js keep to that; tests/browser checks every page).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CSRF_FAILURE_VIEW = "apps.web.errors.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"lost_database": {"()": "libertem_site.middleware.LostDatabaseLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "distributed": {"level": "WARNING"},
        "django.request": {"filters": ["lost_database"]},
        "axes": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
