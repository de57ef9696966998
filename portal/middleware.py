"""Idle sign-out for shared front-desk screens.

The Today page polls every few seconds, so "the session was used recently" says nothing
about whether a person is still there. We keep our own clock of the last request a person
made (polls say so with the X-Portal-Poll header) and sign out after
SESSION_IDLE_MINUTES without one. Pages that never poll would still show patient data
until the next click, so static/js/portal.js also runs an idle timer in the browser (key
presses, clicks and touches count; polls do not) that posts to the idle sign-out view.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

SESSION_KEY = "portal_last_activity"
POLL_HEADER = "X-Portal-Poll"


def sign_out_idle(request) -> None:
    """Sign out and say why on the login page (the rule here, and the page's own timer)."""
    if request.user.is_authenticated:
        logout(request)
    messages.info(request, "You were signed out after "
                  f"{settings.SESSION_IDLE_MINUTES} idle minutes.")


class IdleLogoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_poll = request.headers.get(POLL_HEADER) == "1"
        # The page's idle timer posts to the idle sign-out view, which does it itself.
        if request.user.is_authenticated and request.path != reverse("portal:idle_sign_out"):
            now = time.time()
            last = request.session.get(SESSION_KEY)
            if last is not None and now - last > settings.SESSION_IDLE_MINUTES * 60:
                sign_out_idle(request)
                return self._to_login(request)
            if not is_poll or last is None:
                request.session[SESSION_KEY] = now
        response = self.get_response(request)
        # An htmx request that login_required bounced would swap the login page into a
        # fragment of the page; send the whole browser there instead.
        if getattr(request, "htmx", False) and response.status_code == 302:
            login_url = resolve_url(settings.LOGIN_URL)
            if response.get("Location", "").startswith(login_url):
                return HttpResponseClientRedirect(response["Location"])
        return response

    def _to_login(self, request):
        if getattr(request, "htmx", False):
            target = request.htmx.current_url_abs_path or "/"
            return HttpResponseClientRedirect(
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': target})}"
            )
        return redirect_to_login(request.get_full_path())
