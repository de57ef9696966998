"""Staff sign-in pages: password (then a second factor), single sign-on, sign-out.

A password alone never signs anyone in who needs a second factor: the password step
only remembers, for five minutes, who is half-way in (`PENDING_SESSION_KEY`), and the
real `login()` happens after the code. So every `@login_required` page, and the admin,
only ever sees people who finished signing in.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import lockout, qr, services
from accounts.forms import CodeForm
from accounts.oidc import ProviderUnavailable, provider_config
from accounts.selectors import (
    SECOND_FACTOR_SESSION_KEY,
    SSO,
    second_factor_done,
    signed_in_with_sso,
)
from accounts.signals import PENDING_SESSION_KEY

logger = logging.getLogger(__name__)

PENDING_SECONDS = 5 * 60
NEW_CODES_SESSION_KEY = "accounts_new_recovery_codes"
IDP_LOGOUT_SESSION_KEY = "accounts_idp_logout_url"


# --- Password, then the second factor ------------------------------------------------------

class SignInView(LoginView):
    emergency = False

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs, sso_enabled=settings.SSO_ENABLED,
            provider_name=settings.OIDC_PROVIDER_NAME,
            show_password_form=settings.LOCAL_PASSWORD_SIGN_IN or self.emergency,
            emergency=self.emergency,
            emergency_offered=not settings.LOCAL_PASSWORD_SIGN_IN
            and bool(settings.BREAK_GLASS_USERNAME))

    def form_valid(self, form):
        user = form.get_user()
        if not (services.two_factor_required(user) or services.two_factor_enrolled(user)):
            return super().form_valid(form)
        self.request.session[PENDING_SESSION_KEY] = {
            "user_id": user.pk, "backend": user.backend, "since": time.time(),
            "next": self.get_success_url()}
        if services.two_factor_enrolled(user):
            return redirect("accounts:two_factor_verify")
        return redirect("accounts:two_factor_setup")


def _pending(request) -> tuple[object | None, dict]:
    """The person who gave their password in this browser in the last five minutes."""
    data = request.session.get(PENDING_SESSION_KEY) or {}
    if not data or time.time() - data.get("since", 0) > PENDING_SECONDS:
        return None, {}
    user = get_user_model().objects.filter(pk=data["user_id"], is_active=True).first()
    return user, data


def _start_again(request, text="Sign in again: that sign-in took longer than five minutes."):
    request.session.pop(PENDING_SESSION_KEY, None)
    messages.info(request, text)
    return redirect("login")


def _finish_sign_in(request, user, pending: dict, device):
    auth_login(request, user, backend=pending["backend"])
    otp_login(request, device)
    return redirect(pending.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))


def _wrong_code(request, form, user) -> object | None:
    """Count the wrong code toward the lockout; the lockout page once it is reached."""
    lockout.failure_record(request, username=user.get_username())
    if getattr(request, "axes_locked_out", False):
        request.session.pop(PENDING_SESSION_KEY, None)
        return lockout.locked_out_response(request, username=user.get_username())
    form.add_error("code", "That code is not right. Codes change every 30 seconds: type "
                           "the one your app shows now.")
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    user, pending = _pending(request)
    if user is None:
        return _start_again(request)
    if not services.two_factor_enrolled(user):
        return redirect("accounts:two_factor_setup")
    if lockout.is_locked(request, username=user.get_username()):
        request.session.pop(PENDING_SESSION_KEY, None)
        return lockout.locked_out_response(request, username=user.get_username())
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.two_factor_check(user=user, code=form.cleaned_data["code"])
        if check.accepted:
            if isinstance(check.device, StaticDevice):
                left = services.recovery_codes_left(user)
                messages.warning(request, f"You signed in with a recovery code: {left} left. "
                                          "Make new ones on the Two-factor page if you are "
                                          "running low.")
            return _finish_sign_in(request, user, pending, check.device)
        if check.wait_seconds:
            form.add_error("code", f"Too many wrong codes just now: wait {check.wait_seconds} "
                                   "seconds, then type the code your app shows.")
        elif (response := _wrong_code(request, form, user)) is not None:
            return response
    return render(request, "accounts/two_factor_verify.html",
                  {"form": form, "person": user}, status=400 if form.errors else 200)


@never_cache  # the page shows the secret key
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Add an authenticator: right after the password for someone who must have one and
    has none yet, or from the Two-factor page for someone signed in."""
    user, pending = _pending(request)
    if request.user.is_authenticated:
        user, pending = request.user, {}
        if signed_in_with_sso(request):
            messages.info(request, "You sign in through your organisation, which asks for "
                                   "the second factor: there is nothing to set up here.")
            return redirect("accounts:two_factor")
        # Replacing an authenticator takes the current one (or a recovery code) first.
        if services.two_factor_enrolled(user) and not second_factor_done(request):
            return redirect("accounts:two_factor")
    elif user is None:
        return _start_again(request)
    elif services.two_factor_enrolled(user):
        # A password alone must not swap the authenticator for another one.
        return redirect("accounts:two_factor_verify")
    if lockout.is_locked(request, username=user.get_username()):
        request.session.pop(PENDING_SESSION_KEY, None)
        return lockout.locked_out_response(request, username=user.get_username())

    device = services.two_factor_enrolment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = services.two_factor_enrol(user=user, device=device,
                                          code=form.cleaned_data["code"])
        if codes is not None:
            device.refresh_from_db()
            if pending:
                response = _finish_sign_in(request, user, pending, device)
                request.session["accounts_after_codes"] = response["Location"]
            else:
                otp_login(request, device)
            request.session[NEW_CODES_SESSION_KEY] = codes
            return redirect("accounts:recovery_codes")
        if (response := _wrong_code(request, form, user)) is not None:
            return response
    return render(request, "accounts/two_factor_setup.html", {
        "form": form, "person": user, "required": services.two_factor_required(user),
        "qr_svg": qr.svg(device.config_url), "secret": qr.secret_text(device.bin_key),
        "replacing": services.two_factor_enrolled(user),
    }, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """New recovery codes, shown once: right after they are made, never again."""
    if request.method == "POST":
        if signed_in_with_sso(request) or not second_factor_done(request):
            return redirect("accounts:two_factor")
        request.session[NEW_CODES_SESSION_KEY] = services.recovery_codes_renew(user=request.user)
        return redirect("accounts:recovery_codes")
    codes = request.session.pop(NEW_CODES_SESSION_KEY, None)
    after = request.session.pop("accounts_after_codes", None) if codes else None
    if not codes:
        messages.info(request, "Recovery codes are shown only once, when they are made. "
                               "Make new ones here if you have lost them.")
        return redirect("accounts:two_factor")
    return render(request, "accounts/recovery_codes.html", {
        "codes": codes, "after": after or reverse("accounts:two_factor")})


@login_required
def two_factor(request):
    """The Two-factor page: how this person signs in, and what they can change."""
    user = request.user
    return render(request, "accounts/two_factor.html", {
        "sso": signed_in_with_sso(request), "provider_name": settings.OIDC_PROVIDER_NAME,
        "enrolled": services.two_factor_enrolled(user),
        "required": services.two_factor_required(user),
        "verified": second_factor_done(request),
        "codes_left": services.recovery_codes_left(user),
    })


# --- Single sign-on --------------------------------------------------------------------------

def _provider_unavailable(request, exc):
    logger.warning("SSO: the identity provider is unavailable: %s", exc)
    return render(request, "accounts/sso_refused.html", {
        "reason": "provider", "provider_name": settings.OIDC_PROVIDER_NAME}, status=502)


class SsoStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the identity provider (code flow with PKCE, state, nonce)."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_config().authorization_endpoint
        except ProviderUnavailable as exc:
            return _provider_unavailable(request, exc)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)

    def get_extra_params(self, request):
        return {"prompt": settings.OIDC_PROMPT} if settings.OIDC_PROMPT else {}


def _idp_logout_url(request, id_token: str | None) -> str:
    """The provider's own sign-out (RP-Initiated Logout), where it has one."""
    try:
        endpoint = provider_config().end_session_endpoint
    except ProviderUnavailable:
        return ""
    if not endpoint:
        return ""
    params = {"client_id": settings.OIDC_RP_CLIENT_ID,
              "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))}
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here with a code; the backend trades it for
    tokens and finds the account (accounts/backends.py). Every refusal gets a page that
    says what happened and what to do, never a bare error."""

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        # A code without a state this browser asked for: a replayed, forged or stale
        # callback (the library would answer a bare 400 or quietly go to "/").
        states = request.session.get("oidc_states") or {}
        if "code" in request.GET and request.GET.get("state") not in states:
            logger.warning("SSO callback refused: its state is not one this browser sent")
            return self._refused("state", status=400)
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            logger.warning("SSO callback refused: %s", exc)
            return self._refused("state", status=400)

    def login_success(self):
        response = super().login_success()
        self.request.session[SECOND_FACTOR_SESSION_KEY] = SSO
        logger.info("SSO sign-in: %s", self.user.get_username())
        return response

    def login_failure(self):
        reason = getattr(self.request, "sso_refusal", None)
        if self.request.GET.get("error"):
            reason = "provider_said"
        elif reason is None and getattr(self, "user", None) is not None:
            reason = "inactive"
        if reason == "locked":
            return lockout.locked_out_response(self.request, username=self.request.sso_person)
        status = {"provider": 502, "provider_said": 403}.get(reason, 403)
        return self._refused(reason or "token", status=status)

    def _refused(self, reason: str, *, status: int):
        request = self.request
        id_token = request.session.pop("oidc_id_token", None)
        return render(request, "accounts/sso_refused.html", {
            "reason": reason, "provider_name": settings.OIDC_PROVIDER_NAME,
            "person": getattr(request, "sso_person", ""),
            "provider_error": request.GET.get("error", "")[:80],
            "idp_logout_url": _idp_logout_url(request, id_token) if reason == "no_role" else "",
        }, status=status)


# --- Sign-out --------------------------------------------------------------------------------

@require_POST
def sign_out(request):
    """Ends the portal session. Someone who came through single sign-on is still signed
    in at their provider: the next page offers its sign-out too (a link, since the
    Content-Security-Policy lets forms post only to the portal itself)."""
    idp_logout = ""
    if signed_in_with_sso(request):
        idp_logout = _idp_logout_url(request, request.session.get("oidc_id_token"))
    auth_logout(request)
    if idp_logout:
        request.session[IDP_LOGOUT_SESSION_KEY] = idp_logout
        return redirect("accounts:signed_out")
    messages.info(request, "You are signed out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


def signed_out(request):
    idp_logout = request.session.get(IDP_LOGOUT_SESSION_KEY)
    if not idp_logout or request.user.is_authenticated:
        return redirect(settings.LOGOUT_REDIRECT_URL)
    return render(request, "accounts/signed_out.html", {
        "idp_logout_url": idp_logout, "provider_name": settings.OIDC_PROVIDER_NAME})
