"""Authentication backends: passwords (unless switched off) and OpenID Connect."""

from __future__ import annotations

import logging

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import lockout
from accounts.oidc import ProviderUnavailable, provider_config
from accounts.services import NoPortalRole, sso_sign_in

logger = logging.getLogger(__name__)

# Clocks differ between the provider and us by a few seconds, rarely by more.
CLOCK_LEEWAY_SECONDS = 60


class LocalPasswordBackend(ModelBackend):
    """Django's password check, refused for everyone but the break-glass administrator
    when LOCAL_PASSWORD_SIGN_IN is off. Here, not only in the form, so no path into
    `authenticate()` (the admin's own form included) gets around it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.LOCAL_PASSWORD_SIGN_IN and (
                not settings.BREAK_GLASS_USERNAME or username != settings.BREAK_GLASS_USERNAME):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class SsoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow (token request, signature from the provider's
    JWKS, nonce), with what a hospital's sign-in needs on top:

    - endpoints from the issuer's discovery document (accounts/oidc.py);
    - the ID token's issuer, audience, expiry and issue time checked, not only its
      signature (the library leaves `aud` unchecked);
    - accounts found by issuer + `sub`, roles from the group claim at every sign-in, and
      no account at all for someone without a mapped role (accounts/services.py);
    - the sign-in lockout honoured for the person who signed in.

    Why a sign-in failed is left on the request (`request.sso_refusal`) for the callback
    view to explain; Django's authenticate() only passes on "nobody".
    """

    def __init__(self, *args, **kwargs):
        # The library reads every endpoint here, and Django builds a backend on every
        # authenticate(): ours come from discovery, on the callback only.
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "code_verifier" not in kwargs or "username" in kwargs:
            return None
        if not settings.SSO_ENABLED:
            return None
        try:
            self.config = provider_config()
        except ProviderUnavailable as exc:
            return self._refuse(request, "provider", "the provider's configuration: %s", exc)
        self.OIDC_OP_TOKEN_ENDPOINT = self.config.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.config.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.config.jwks_uri
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        try:
            user = super().authenticate(request, **kwargs)
        except NoPortalRole as exc:
            request.sso_refusal = "no_role"
            request.sso_person = exc.display
            return None
        except requests.RequestException as exc:
            return self._refuse(request, "provider", "the provider's answer: %s", exc)
        except (SuspiciousOperation, jwt.PyJWTError, KeyError, ValueError) as exc:
            return self._refuse(request, "token", "the ID token: %s", exc)
        if user is None:
            return self._refuse(request, "token", "%s", "no user from the provider's answer")
        if lockout.is_locked(request, username=user.get_username()):
            request.sso_refusal = "locked"
            request.sso_person = user.get_username()
            return None
        return user

    # The library's get_user also returns deactivated accounts; Django's does not, which is
    # what ends a deactivated person's open sessions at their next request.
    get_user = ModelBackend.get_user

    def _refuse(self, request, reason: str, message: str, detail) -> None:
        logger.warning("SSO sign-in refused because of " + message, detail)
        request.sso_refusal = reason
        return None

    def _verify_jws(self, payload, key):
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"signed with {header.get('alg')!r}, "
                                      f"not {self.OIDC_RP_SIGN_ALGO}")
        try:
            claims = jwt.decode(
                payload, key, algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID, issuer=self.config.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(str(exc)) from exc
        # OpenID Connect Core §3.1.3.7: with other audiences beside us, azp must be us.
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("issued to another party (azp)")
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            # Core §5.3.2: a userinfo answer about someone else must not be used.
            if str(userinfo.get("sub")) != str(payload["sub"]):
                raise SuspiciousOperation("userinfo is about another subject")
            claims.update(userinfo)
        return sso_sign_in(issuer=self.config.issuer, claims=claims)
