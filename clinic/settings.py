"""One settings file, driven by the environment (see ../shared/CONTRACT.md and README).

Every value is parsed strictly: a bad one stops start-up with a message that names it.
Integrations stay off until their variables are set.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from clinic.lib.envparse import (
    env_bool,
    env_choice,
    env_code_map,
    env_host,
    env_int,
    env_networks,
    env_pairs,
    env_secure_url,
    env_time_zone,
    parse_send_hours,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A developer's .env (made by `make install` from .env.example) fills in what the real
# environment leaves unset; the real environment always wins.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env_bool("DEBUG", False)

# --- Django's own -------------------------------------------------------------
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off."
    )

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the portal's host names when DEBUG is off.")

INSTALLED_APPS = [
    # Django's admin, with its sign-in handed to the portal's (second factor included).
    "accounts.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "simple_history",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "mozilla_django_oidc",
    "clinic",
    "accounts",
    "messaging",
    "waitlist",
    "offers",
    "ehr",
    "portal",
    "fillsim",
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
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.IdleLogoutMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes last: it needs the authenticated user and answers lockouts itself.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Passwords (ModelBackend), unless LOCAL_PASSWORD_SIGN_IN is off.
    "accounts.backends.LocalPasswordBackend",
    # Single sign-on; answers only the OpenID Connect callback, and only once configured.
    "accounts.backends.SsoBackend",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

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
                "clinic.context_processors.clinic",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE takes the write lock at the start of every transaction, so two
    # claims never both read "still open" and then fail to upgrade their locks.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Race tests run real threads, which an in-memory test database cannot serve. The
    # test file is named after the database, so two checkouts' suites never share one.
    _db_stem = Path(str(DATABASES["default"]["NAME"])).stem or "db"
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_db_stem}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT spends ~20 ms compiling each large ranking query, more than the
    # query itself takes (bench/README.md); short transactional queries never gain from it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # kombu's filesystem transport: a broker that needs no server, for `make run`. The
    # host name means nothing to it, but without one kombu warns "No hostname was
    # supplied" on every connection.
    CELERY_BROKER_URL = "filesystem://localhost/"
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
    for _folder in (_queue_dir, VAR_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth and security --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:today"
LOGOUT_REDIRECT_URL = "login"
# Front-desk screens are shared: sign out after this many idle minutes.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 15, minimum=1, maximum=24 * 60)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie.

AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind the reverse proxy every request comes from the proxy's address: count failures
# per client, from the hop the proxy appends to X-Forwarded-For (clinic/lib/clientip.py).
AXES_CLIENT_IP_CALLABLE = "clinic.lib.clientip.client_ip"
# Wrong two-factor codes count as failures too (accounts/lockout.py); an SSO callback
# carries no username, and is checked against the signed-in person's record instead.
AXES_WHITELIST_CALLABLE = "accounts.lockout.sso_callback_is_checked_by_user"
AXES_SENSITIVE_PARAMETERS = ["code", "state"]

# --- Staff sign-in: single sign-on (OpenID Connect) and two-factor -----------------
# README "Staff sign-in" and docs/staff-sign-in.md. SSO is off until OIDC_ISSUER,
# OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are all set (and then needs OIDC_ROLE_MAP).
OIDC_ISSUER = env_secure_url("OIDC_ISSUER").rstrip("/")
# Explicit endpoints win over what the issuer's discovery document says; with all three
# of authorization, token and JWKS given, discovery is not asked at all.
OIDC_ENDPOINTS = {
    key: env_secure_url(f"OIDC_{key.upper()}")
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                "end_session_endpoint")
}
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="").strip()
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="").strip()
_oidc_given = {
    "OIDC_ISSUER": OIDC_ISSUER, "OIDC_CLIENT_ID": OIDC_RP_CLIENT_ID,
    "OIDC_CLIENT_SECRET": OIDC_RP_CLIENT_SECRET}
SSO_ENABLED = all(_oidc_given.values())
if any(_oidc_given.values()) and not SSO_ENABLED:
    raise ImproperlyConfigured(
        "Single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together; "
        f"missing: {', '.join(name for name, value in _oidc_given.items() if not value)}.")
if not OIDC_ISSUER and any(OIDC_ENDPOINTS.values()):
    raise ImproperlyConfigured("OIDC_*_ENDPOINT variables need OIDC_ISSUER too: ID tokens "
                               "are checked against it.")
OIDC_RP_SCOPES = " ".join(env.str("OIDC_SCOPES", default="openid email profile").split())
if SSO_ENABLED and "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured(f"OIDC_SCOPES={OIDC_RP_SCOPES!r} must include openid.")
OIDC_RP_SIGN_ALGO = env_choice("OIDC_SIGN_ALGORITHM", "RS256", (
    "rs256", "rs384", "rs512", "ps256", "ps384", "ps512", "es256", "es384", "es512")).upper()
OIDC_TOKEN_USE_BASIC_AUTH = env_choice(
    "OIDC_TOKEN_AUTH_METHOD", "client_secret_basic",
    ("client_secret_basic", "client_secret_post")) == "client_secret_basic"
# The claim that carries the person's groups or app roles, and which values mean which
# role. A dotted name reaches into an object (Keycloak: realm_access.roles).
OIDC_ROLE_CLAIM = env.str("OIDC_ROLE_CLAIM", default="groups").strip()
# The words OIDC_ROLE_MAP uses for clinic/roles.py's roles (its group names).
OIDC_ROLE_WORDS = {"front_desk": "Front desk", "front-desk": "Front desk",
                   "manager": "Manager", "admin": "Admin"}
OIDC_ROLE_MAP = env_pairs("OIDC_ROLE_MAP", values=OIDC_ROLE_WORDS)
if SSO_ENABLED and not OIDC_ROLE_MAP:
    raise ImproperlyConfigured(
        "OIDC_ROLE_MAP must say which values of the role claim "
        f"({OIDC_ROLE_CLAIM}) mean front_desk, manager or admin; without it nobody could "
        "sign in through single sign-on.")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username").strip()
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on").strip()
# Front-desk screens are shared: by default the provider asks for the password again, so
# the next person at the desk cannot ride on the last one's provider session.
_prompt = env_choice("OIDC_PROMPT", "login", ("login", "select_account", "consent", "off"))
OIDC_PROMPT = "" if _prompt == "off" else _prompt
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # sent back as id_token_hint when signing out of the provider
OIDC_TIMEOUT = 10
OIDC_VERIFY_SSL = True
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:sso_callback"
OIDC_CALLBACK_CLASS = "accounts.views.SsoCallbackView"
OIDC_AUTHENTICATE_CLASS = "accounts.views.SsoStartView"

# Once SSO is set up, password sign-in can be switched off for everyone but one named
# emergency administrator, whose every sign-in is logged as a WARNING and audited.
LOCAL_PASSWORD_SIGN_IN = env_bool("LOCAL_PASSWORD_SIGN_IN", True)
BREAK_GLASS_USERNAME = env.str("BREAK_GLASS_USERNAME", default="").strip()
if not LOCAL_PASSWORD_SIGN_IN and not SSO_ENABLED:
    raise ImproperlyConfigured(
        "LOCAL_PASSWORD_SIGN_IN=false needs single sign-on configured (OIDC_ISSUER, "
        "OIDC_CLIENT_ID, OIDC_CLIENT_SECRET): otherwise nobody could sign in.")

# Two-factor for password sign-in: always for managers and admins (and anyone with
# access to the Django admin); for front desk only when this says "required". People
# who sign in through SSO are not asked: their identity provider does MFA.
TWO_FACTOR_FRONT_DESK = env_choice("TWO_FACTOR_FRONT_DESK", "optional", ("optional", "required"))

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# A strict Content-Security-Policy: scripts and styles only from our own static files, no
# inline code, no eval, never framed. Portal templates and the Django admin satisfy it (the
# one admin page that carried an inline script is overridden in templates/admin/djcelery/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_time_zone("CLINIC_TIME_ZONE", "America/Chicago")
CLINIC_TIME_ZONE = TIME_ZONE

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- The clinic and its SMS channel -------------------------------------------
CLINIC_NAME = env.str("CLINIC_NAME", default="Riverside Family Clinic")
# How the clinic's entry is labelled in staff members' authenticator apps.
OTP_TOTP_ISSUER = f"{CLINIC_NAME} waitlist"
# The number patients can call; HELP replies give it. Not part of the contract's table,
# an optional extra with a demo default.
CLINIC_PHONE = env.str("CLINIC_PHONE", default="(312) 555-0100")

SMS_BACKEND = env_choice("SMS_BACKEND", "console", ("console", "twilio"))
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
if SMS_BACKEND == "twilio":
    _missing = [
        name
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
        if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"SMS_BACKEND=twilio needs {', '.join(_missing)}.")
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
if not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL={PUBLIC_BASE_URL!r} must start with https:// "
                               "(or http:// where SECURE_SSL_REDIRECT is off)")
# Twilio does not follow a redirect from http:// to https://: its webhooks would be lost.
# Only a server that answers plain HTTP (development, or no TLS in front) takes http://.
if SMS_BACKEND == "twilio" and SECURE_SSL_REDIRECT and not PUBLIC_BASE_URL.startswith("https://"):
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL={PUBLIC_BASE_URL!r} must start with https:// while "
        "SECURE_SSL_REDIRECT is on: Twilio's webhook calls to http:// would be redirected "
        "and lost. Set SECURE_SSL_REDIRECT=false only where no TLS is in front.")

# --- The offer engine ---------------------------------------------------------
OFFER_BATCH_SIZE = env_int("OFFER_BATCH_SIZE", 3, minimum=1, maximum=50)
OFFER_HOLD_SECONDS = env_int("OFFER_HOLD_SECONDS", 420, minimum=60, maximum=24 * 3600)
SMS_SEND_HOURS = parse_send_hours("SMS_SEND_HOURS", "08:00-20:00")
# No offers for a slot that starts sooner than this: nobody can get there in time.
OFFER_MIN_LEAD_MINUTES = 60
# When little time is left before a slot, batches grow up to this size.
OFFER_MAX_BATCH_SIZE = 10
# How many batches we would like to fit before a slot starts; fewer time => larger batches.
OFFER_TARGET_BATCHES = 3
# After "Filled by phone", staff may undo it this long; the patients are texted after.
PHONE_FILL_UNDO_SECONDS = 120
# The staff page of a patient: other apps' templates link there ({% patient_url %}, clinic).
PATIENT_PAGE_URL_NAME = "portal:patient"
# The beat sweep that catches expiries a countdown task missed.
OFFER_SWEEP_SECONDS = 30
# The SMS channel's own housekeeping: messages stuck in "sending" fail, lost ones are queued
# again (messaging.tasks.messages_housekeeping).
MESSAGES_HOUSEKEEPING_SECONDS = 30
# Waitlist hygiene (waitlist/checkins.py): an entry waiting this many days (since it was
# added, or since the patient last confirmed) gets a check-in text; 0 switches it off. NO,
# or no answer within the reply window, takes it off the list.
WAITLIST_CHECK_IN_DAYS = env_int("WAITLIST_CHECK_IN_DAYS", 30, minimum=0, maximum=3650)
WAITLIST_CHECK_IN_REPLY_HOURS = env_int("WAITLIST_CHECK_IN_REPLY_HOURS", 48, minimum=1,
                                        maximum=24 * 60)
# How often beat looks for entries due a check-in and check-ins left unanswered.
WAITLIST_CHECK_IN_SWEEP_SECONDS = 300
# At most this many entries are asked per run (the rest at the next run): a clinic
# switching check-ins on for a long waitlist does not send hundreds of texts at once.
WAITLIST_CHECK_IN_BATCH = 100
# Chain fills (ehr/chain.py): the beat sweep that frees the later appointments of SMS
# bookings whose task after commit was lost.
CHAIN_FILL_SWEEP_SECONDS = 300
# Every periodic job, in one place, driven by the settings above. Celery beat's database
# scheduler (django-celery-beat) installs it when beat starts, and `migrate` installs it too
# (clinic/lib/beat.py), so the beat_health check finds the sweep before beat first runs
# and a changed interval takes effect at the next migrate or beat start.
CELERY_BEAT_SCHEDULE = {
    "offers: expire due holds and resume waiting slots": {
        "task": "offers.tasks.offers_sweep", "schedule": float(OFFER_SWEEP_SECONDS)},
    "messaging: fail stuck messages and queue lost ones again": {
        "task": "messaging.tasks.messages_housekeeping",
        "schedule": float(MESSAGES_HOUSEKEEPING_SECONDS)},
    "waitlist: check in with long-waiting patients, take off who lapsed": {
        "task": "waitlist.tasks.waitlist_check_in_sweep",
        "schedule": float(WAITLIST_CHECK_IN_SWEEP_SECONDS)},
    "ehr: open the chain fills a lost task missed": {
        "task": "ehr.tasks.chain_fills_sweep", "schedule": float(CHAIN_FILL_SWEEP_SECONDS)},
}
# A YES this long after its hold ended still takes the slot, but only while nobody else
# holds an offer for it (its batch-mates all ended and no later batch has gone out) and
# the patient holds no other offer: one more hold's length (docs/how-offers-work.md, "Late YES").
OFFER_LATE_YES_GRACE_SECONDS = OFFER_HOLD_SECONDS
# When a patient becomes free (an offer of theirs ended), at most this many waiting slots
# are looked at for them, soonest first; the sweep reaches any beyond.
OFFER_WAITING_SLOTS_LOOKED_AT = 25
# A booking awaiting staff approval (a clinic rule's "approval" mode, docs/rules.md) this
# long is shown on Today as overdue.
APPROVAL_ALERT_MINUTES = env_int("APPROVAL_ALERT_MINUTES", 15, minimum=1, maximum=24 * 60)
# The clinic's ranking formula (waitlist/ranking.py).
RANKING = {
    "urgent": 30,
    "boost_max": 40,
    # (days until the patient's current appointment, points): first match wins
    "current_appointment_steps": [(180, 20), (90, 10), (30, 5)],
    "waiting_days_per_point": 30,
    "waiting_points_max": 10,
    # Responsiveness (offers/history.py): up to this many points either way, from how
    # often the patient answered their offers of the last history_days days against the
    # clinic's share (a Beta prior worth responsiveness_prior_weight offers).
    "responsiveness_max": 8,
    "responsiveness_prior_weight": 2,
    "history_days": 90,
    # Fairness: +1 per fairness_offers_per_point offers lost to a quicker patient (the
    # slot was taken while theirs was on hold), at most fairness_max; a win resets it.
    "fairness_offers_per_point": 2,
    "fairness_max": 5,
}
# Fatigue caps (docs/how-offers-work.md, "Fatigue caps"): at most this many offer texts
# to one patient in any 24 hours and any 7 days, and none within OFFER_MIN_GAP_MINUTES
# of the last. The FCC's healthcare exemption for texts sent without prior express
# consent allows one a day and three a week: a clinic texting on that exemption sets
# OFFER_TEXTS_PER_DAY=1 and OFFER_TEXTS_PER_WEEK=3. Patients who joined the waitlist
# asking to be texted have given consent, so the exemption's limits do not bind them.
OFFER_TEXTS_PER_DAY = env_int("OFFER_TEXTS_PER_DAY", 2, minimum=1, maximum=50)
OFFER_TEXTS_PER_WEEK = env_int("OFFER_TEXTS_PER_WEEK", 5, minimum=1, maximum=200)
OFFER_MIN_GAP_MINUTES = env_int("OFFER_MIN_GAP_MINUTES", 30, minimum=0, maximum=24 * 60)
# The offer policy (offers/policy.py): "adaptive" sizes each batch and hold from the
# candidates' responsiveness and the time left, so that the chance of at least one YES
# before offering must stop reaches OFFER_FILL_CONFIDENCE; "fixed" is OFFER_BATCH_SIZE
# and OFFER_HOLD_SECONDS as they are (grown only when few holds fit).
OFFER_POLICY = env_choice("OFFER_POLICY", "fixed", ("fixed", "adaptive"))
OFFER_FILL_CONFIDENCE = env_int("OFFER_FILL_CONFIDENCE_PERCENT", 90, minimum=50,
                                maximum=99) / 100
# The adaptive policy's longest hold, when the time left allows OFFER_TARGET_BATCHES of
# them: a patient who reads the text twenty minutes later can still take the slot, and
# fewer texts go out per filled slot (docs/simulator.md). Four of OFFER_HOLD_SECONDS.
OFFER_MAX_HOLD_SECONDS = 4 * OFFER_HOLD_SECONDS

# --- EHR interfaces: HL7 v2 over MLLP and SMART Backend Services ----------------
# `manage.py hl7_listen` (docs/hl7.md). The default listens on this machine only; a site
# whose interface engine runs elsewhere sets 0.0.0.0 behind a firewall or VPN.
HL7_MLLP_HOST = env_host("HL7_MLLP_HOST", "127.0.0.1")
HL7_MLLP_PORT = env_int("HL7_MLLP_PORT", 2575, minimum=1, maximum=65535)
# MLLP has no authentication of its own: where the port is reachable from a network, list
# the interface engine's addresses; connections from anywhere else are closed unread.
HL7_ALLOWED_NETWORKS = env_networks("HL7_ALLOWED_NETWORKS")
# How to read a message whose MSH-18 names no character set (UTF-8 also reads ASCII).
HL7_ENCODING = env_choice("HL7_ENCODING", "utf-8", ("utf-8", "latin-1", "ascii"))
# The identifier system of the provider ids in AIP-3/AIG-3 (matched against Provider's
# identifier, as FHIR's participant identifiers are). NPI unless the site sends its own.
HL7_PROVIDER_ID_SYSTEM = env.str("HL7_PROVIDER_ID_SYSTEM",
                                 default="http://hl7.org/fhir/sid/us-npi").strip()
if not HL7_PROVIDER_ID_SYSTEM or len(HL7_PROVIDER_ID_SYSTEM) > 255:
    raise ImproperlyConfigured("HL7_PROVIDER_ID_SYSTEM must be 1 to 255 characters, e.g. "
                               "http://hl7.org/fhir/sid/us-npi")
# The scheduling system's service codes (AIS-3) that differ from the clinic's appointment
# type codes: "FUP=follow-up,NEW=new-patient". Codes not listed are used as they are.
HL7_SERVICE_CODES = env_code_map("HL7_SERVICE_CODES")
# SMART Backend Services (docs/smart.md): access tokens live this long. SMART recommends
# five minutes at most; clients ask for a new one when it runs out.
SMART_ACCESS_TOKEN_SECONDS = 300
# A client's registered JWKS URL is fetched again after this long (or for an unknown kid).
SMART_JWKS_CACHE_SECONDS = 3600

# --- Logging ------------------------------------------------------------------
LOG_TIMESTAMPS = env_bool("LOG_TIMESTAMPS", True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_phones": {"()": "clinic.lib.logmask.MaskPhoneNumbers"},
                "quiet_client_errors": {"()": "clinic.lib.logmask.QuietClientErrors"}},
    # One clock per line, the clinic's (Django sets the process's time zone to
    # CLINIC_TIME_ZONE). Under `make run` honcho already stamps each line with the time,
    # so Procfile.dev turns ours off (LOG_TIMESTAMPS=false).
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"
                             if LOG_TIMESTAMPS else "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["mask_phones"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env_choice(
        "LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()},
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"},
                # The SDK logs every request and header at INFO: noise, not news.
                "twilio.http_client": {"level": "WARNING"},
                # Django's defaults give these their own handlers, without the mask;
                # request lines carry query strings such as a waitlist search by phone.
                "django": {"handlers": [], "level": "INFO"},
                # An ordinary 403 or 404 is one line, not a traceback.
                "django.request": {"filters": ["quiet_client_errors"]},
                "django.server": {"handlers": [], "level": "INFO", "propagate": True}},
}
