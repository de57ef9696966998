"""SMART Backend Services: OAuth 2.0 client credentials with a signed JWT (private_key_jwt).

A backend service signs an assertion (RS384 or ES384) with its private key; we check it
against the JWK Set registered for the client (or fetched from its JWKS URL), and answer a
short-lived access token, which it then sends as the bearer to the FHIR API. docs/smart.md
describes the flow and the errors; the errors are RFC 6749's.
"""

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import time
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ehr.models import SMART_TOKEN_PREFIX, SmartClient, SmartToken

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS384", "ES384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 300  # SMART: exp no more than five minutes ahead
CLOCK_SKEW_SECONDS = 60
MAX_ASSERTION_CHARS = 16_000
MAX_JWKS_BYTES = 64 * 1024
RESOURCE = "Appointment"

# What each endpoint needs, in SMART v2 letters: create, read, update, delete, search.
CREATE, READ, SEARCH = "c", "r", "s"
V1_PERMISSIONS = {"read": {"r", "s"}, "write": {"c", "u", "d"}, "*": set("cruds")}
SCOPE_PATTERN = re.compile(r"system/(?P<resource>Appointment|\*)\.(?P<what>read|write|\*|"
                           r"c?r?u?d?s?)")


class OAuthError(Exception):
    """Answered as RFC 6749 section 5.2 says: {"error": ..., "error_description": ...}."""

    def __init__(self, error: str, description: str, *, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def invalid_client(description: str) -> OAuthError:
    # SMART: any failure to authenticate the client (signature, claims, replay) is
    # invalid_client.
    return OAuthError("invalid_client", description, status=401)


def token_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("ehr:smart-token")


# --- scopes ---------------------------------------------------------------------------

def scope_permissions(scope: str) -> set[str]:
    """"system/Appointment.read" -> {"r", "s"}; raises OAuthError for anything else."""
    match = SCOPE_PATTERN.fullmatch(scope)
    if match is None or not match["what"]:
        raise OAuthError("invalid_scope", f"{scope[:80]!r} is not a scope of this server; "
                         "it serves system/Appointment.read and system/Appointment.write "
                         "(SMART v2: system/Appointment.rs, system/Appointment.cud)")
    return V1_PERMISSIONS.get(match["what"]) or set(match["what"])


def scopes_permissions(scopes: str) -> set[str]:
    granted: set[str] = set()
    for scope in scopes.split():
        granted |= scope_permissions(scope)
    return granted


def scopes_check(text: str) -> str:
    """The registered scopes of a client, normalised; raises ValueError when one is not
    understood (the admin form and the command show it)."""
    scopes = text.split()
    if not scopes:
        raise ValueError("give at least one scope, e.g. system/Appointment.write")
    for scope in scopes:
        try:
            scope_permissions(scope)
        except OAuthError as exc:
            raise ValueError(exc.description) from None
    return " ".join(dict.fromkeys(scopes))


# --- keys -------------------------------------------------------------------------------

def jwks_check(data: object) -> dict:
    """A JWK Set of public signing keys, each with a kid. Raises ValueError."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ValueError('a JWK Set is a JSON object {"keys": [...]} with at least one key')
    for index, key in enumerate(data["keys"]):
        if not isinstance(key, dict):
            raise ValueError(f"keys[{index}] is not a JSON object")
        if key.get("kty") not in ("RSA", "EC"):
            raise ValueError(f"keys[{index}]: kty must be RSA or EC (for RS384 or ES384)")
        if not key.get("kid"):
            raise ValueError(f"keys[{index}] needs a kid: assertions name their key by it")
        if any(part in key for part in ("d", "p", "q", "dp", "dq", "qi")):
            raise ValueError(f"keys[{index}] is a private key: register only the public "
                             "half, and keep the private key with the client")
    try:
        KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a usable JWK Set: {exc}") from None
    return data


def _client_keys(client: SmartClient, kid: str) -> KeySet:
    if client.jwks:
        return KeySet.import_key_set(client.jwks)
    if not client.jwks_url:
        raise invalid_client("the client has no registered keys")
    cache_key = "smart-jwks:" + hashlib.sha256(client.jwks_url.encode()).hexdigest()
    cached = cache.get(cache_key)
    kids = {key.get("kid") for key in (cached or {}).get("keys", [])}
    if cached is None or kid not in kids:
        # A key the cache does not have may be a rotation: fetch again, at most once a
        # minute, so that made-up kids do not turn us into the client's load test.
        if cached is None or cache.add(cache_key + ":refetch", True, 60):
            cached = _jwks_fetch(client.jwks_url)
            cache.set(cache_key, cached, settings.SMART_JWKS_CACHE_SECONDS)
    return KeySet.import_key_set(cached)


def _jwks_fetch(url: str) -> dict:
    if not url.startswith(("https://", "http://")):
        raise invalid_client("the client's JWKS URL is not an https:// URL")
    try:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("the JWK Set is larger than 64 KB")
        return jwks_check(json.loads(body))
    except (OSError, ValueError) as exc:
        logger.warning("SMART: the JWKS at %s could not be fetched: %s", url, exc)
        raise invalid_client(f"the client's JWK Set could not be fetched from its JWKS URL "
                             f"({exc})") from None


# --- the token endpoint --------------------------------------------------------------

@dataclass(frozen=True)
class Assertion:
    client: SmartClient
    jti: str
    expires: int


def assertion_verify(assertion: str) -> Assertion:
    """Check a client assertion as SMART Backend Services says; raises OAuthError."""
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise invalid_client("the client_assertion is too long")
    try:
        unverified = jws.extract_compact(assertion.encode("ascii"))
        header = unverified.headers()
        claims = json.loads(unverified.payload)
    except (JoseError, ValueError, UnicodeError, TypeError):
        raise invalid_client("the client_assertion is not a signed JWT") from None
    if not isinstance(claims, dict):
        raise invalid_client("the client_assertion's claims are not a JSON object")
    if header.get("alg") not in ALGORITHMS:
        raise invalid_client(f"the assertion must be signed with {' or '.join(ALGORITHMS)}, "
                             f"not {str(header.get('alg'))[:20]!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise invalid_client("the assertion's header needs the kid of its key")
    issuer = claims.get("iss")
    client = SmartClient.objects.filter(client_id=issuer, revoked_at=None).first() if (
        isinstance(issuer, str)) else None
    if client is None:
        raise invalid_client("iss is not the client_id of a registered client")
    try:
        verified = jwt.decode(assertion, _client_keys(client, kid), algorithms=list(ALGORITHMS))
    except JoseError as exc:
        raise invalid_client(f"the signature does not verify with the client's registered "
                             f"keys ({exc.error})") from None
    claims = verified.claims
    _claims_check(claims, client)
    return Assertion(client=client, jti=claims["jti"], expires=claims["exp"])


def _claims_check(claims: dict, client: SmartClient) -> None:
    now = int(time.time())
    if claims.get("sub") != client.client_id:
        raise invalid_client("sub must be the client_id, like iss")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_url() not in audiences:
        raise invalid_client(f"aud must be the token endpoint, {token_url()}")
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise invalid_client("exp (a NumericDate) is required")
    if expires < now - CLOCK_SKEW_SECONDS:
        raise invalid_client("the assertion has expired (exp is past)")
    if expires > now + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS:
        raise invalid_client("exp must be at most five minutes ahead")
    for name in ("nbf", "iat"):
        moment = claims.get(name)
        if isinstance(moment, int) and moment > now + CLOCK_SKEW_SECONDS:
            raise invalid_client(f"{name} is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise invalid_client("jti (a unique string of up to 255 characters) is required")


def token_grant(*, grant_type: str, assertion_type: str, assertion: str, scope: str,
                client_id: str = "", peer: str = "") -> tuple[str, SmartToken]:
    """The token endpoint's whole rule: (raw access token, its audit row)."""
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type",
                         "only grant_type=client_credentials is supported")
    if assertion_type != ASSERTION_TYPE or not assertion:
        raise OAuthError("invalid_request", "send client_assertion_type="
                         f"{ASSERTION_TYPE} and the signed JWT as client_assertion")
    checked = assertion_verify(assertion)
    client = checked.client
    if client_id and client_id != client.client_id:
        # RFC 7521: a client_id sent beside the assertion must be the one it names.
        raise invalid_client("client_id is not the assertion's iss")
    requested = scope.split()
    if not requested:
        raise OAuthError("invalid_scope", "ask for a scope, e.g. system/Appointment.write")
    allowed = scopes_permissions(client.scopes)
    for item in requested:
        if not scope_permissions(item) <= allowed:
            raise OAuthError("invalid_scope", f"{item!r} is not allowed for this client "
                             f"(registered: {client.scopes})")
    return _token_issue(client=client, scopes=" ".join(dict.fromkeys(requested)),
                        jti=checked.jti, peer=peer)


def _token_issue(*, client: SmartClient, scopes: str, jti: str,
                 peer: str) -> tuple[str, SmartToken]:
    raw = SMART_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    try:
        with transaction.atomic():
            token = SmartToken.objects.create(
                client=client, hashed_token=token_hash(raw), scopes=scopes,
                assertion_jti=jti, issued_at=now, peer=peer[:100],
                expires_at=now + dt.timedelta(seconds=settings.SMART_ACCESS_TOKEN_SECONDS))
    except IntegrityError:
        # Two tokens for one assertion: a replay (or a client that reuses jti values).
        raise invalid_client("this assertion's jti was used before; sign a new assertion "
                             "with a fresh jti for every token request") from None
    SmartClient.objects.filter(pk=client.pk).update(last_token_at=now)
    logger.info("SMART: token %s issued to %s for %s", token.pk, client.name, scopes)
    return raw, token


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


# --- the FHIR API's side -----------------------------------------------------------------

class TokenRefused(Exception):
    pass


def token_authenticate(raw: str) -> SmartToken:
    """The live token with this value; raises TokenRefused saying why not."""
    token = (SmartToken.objects.select_related("client")
             .filter(hashed_token=token_hash(raw)).first())
    if token is None:
        raise TokenRefused("the access token is not one this server issued")
    if token.client.revoked_at is not None:
        raise TokenRefused("the client of this access token was revoked")
    now = timezone.now()
    if token.expires_at <= now:
        raise TokenRefused("the access token has expired; ask the token endpoint for a new one")
    SmartToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
