"""The identity provider as OpenID Connect describes it: its endpoints (from the issuer's
discovery document, or from explicit settings) and what its claims mean to the portal.

mozilla-django-oidc wants every endpoint as a setting; discovery lets a clinic give only
the issuer, and follows the provider when it moves an endpoint or rotates keys. The
document is fetched on first use, not at start-up (a provider that is down must not stop
the portal starting), and kept for an hour.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from clinic.lib.envparse import url_is_safe_for_credentials

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_SECONDS = 3600
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
OPTIONAL = ("userinfo_endpoint", "end_session_endpoint")


class ProviderUnavailable(Exception):
    """The provider's configuration could not be had or is not trustworthy; the message
    says why, for the log and the operator."""


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    end_session_endpoint: str = ""


_lock = threading.Lock()
_cache: dict[tuple, tuple[float, ProviderConfig]] = {}


def provider_config() -> ProviderConfig:
    issuer = settings.OIDC_ISSUER
    explicit = {key: value for key, value in settings.OIDC_ENDPOINTS.items() if value}
    cache_key = (issuer, tuple(sorted(explicit.items())))
    with _lock:
        cached = _cache.get(cache_key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
    endpoints = dict(explicit)
    if not all(key in explicit for key in REQUIRED):
        endpoints = {**_discover(issuer), **explicit}
    missing = [key for key in REQUIRED if not endpoints.get(key)]
    if missing:
        raise ProviderUnavailable(f"the provider names no {', '.join(missing)}")
    for key in REQUIRED + OPTIONAL:
        url = endpoints.get(key) or ""
        if url and not url_is_safe_for_credentials(url):
            raise ProviderUnavailable(f"its {key} {url!r} is not https://")
    config = ProviderConfig(issuer=issuer, **{key: endpoints.get(key) or ""
                                              for key in REQUIRED + OPTIONAL})
    with _lock:
        _cache[cache_key] = (time.monotonic() + CACHE_SECONDS, config)
    return config


def forget_provider_config() -> None:
    with _lock:
        _cache.clear()


def _discover(issuer: str) -> dict[str, str]:
    url = issuer + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT,
                                headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"{url} did not answer with its configuration ({exc})") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not answer with a JSON object")
    # OpenID Connect Discovery §4.3: the document must name exactly the issuer asked for,
    # or tokens from some other issuer could pass as this one's.
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderUnavailable(
            f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}")
    return {key: str(document[key]) for key in REQUIRED + OPTIONAL if document.get(key)}


# --- What the claims mean -------------------------------------------------------------

def claim_values(claims: dict, name: str) -> list[str]:
    """The values of a claim as a list of strings: a list claim as it is, a single value
    as one; a dotted name reaches into nested objects ("realm_access.roles")."""
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict):
            return []
        value = value.get(part)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item) for item in value if item is not None]
    return [str(value)]


def role_claim_values(claims: dict) -> list[str]:
    """The values of the role claim, or of each of them: OIDC_ROLE_CLAIM may name several,
    comma-separated ("hd,email" for Google, which sends no groups)."""
    return [value for name in settings.OIDC_ROLE_CLAIM.split(",") if name.strip()
            for value in claim_values(claims, name.strip())]


def role_from_claims(claims: dict) -> str | None:
    """The highest portal role that the person's groups (or app roles) map to, by
    OIDC_ROLE_MAP; None when none of them does."""
    from clinic import roles

    mapped = {settings.OIDC_ROLE_MAP[value] for value in role_claim_values(claims)
              if value in settings.OIDC_ROLE_MAP}
    for role in reversed(roles.ROLE_RANK):
        if role in mapped:
            return role
    return None
