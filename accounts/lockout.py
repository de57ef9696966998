"""The sign-in lockout (django-axes) across the three ways in: a wrong password, a wrong
two-factor code and single sign-on all meet the same per-person-and-address counter.

- Wrong passwords: axes counts them itself (Django's user_login_failed signal).
- Wrong two-factor codes: `failure_record` sends the same signal, so five wrong
  answers, passwords and codes together, lock that person out from that address.
- Single sign-on: the identity provider checks the password (and its own MFA), so a
  failed callback says nothing about guessing. It carries no username, and counting it
  under "no username" from the clinic's one public address would lock every colleague
  out of SSO; so axes leaves the callback alone and the SSO backend asks, once it knows
  who signed in, whether that person is locked out (`is_locked`).
"""

from django.contrib.auth.signals import user_login_failed


def sso_callback_is_checked_by_user(request, credentials) -> bool:
    """AXES_WHITELIST_CALLABLE: True for the OpenID Connect callback's authenticate()
    (its credentials are a nonce and a PKCE verifier, no username)."""
    credentials = credentials or {}
    return "code_verifier" in credentials and not credentials.get("username")


def failure_record(request, *, username: str) -> None:
    """Count a wrong two-factor code as a failed sign-in of `username`."""
    user_login_failed.send(sender=__name__, credentials={"username": username},
                           request=request)


def is_locked(request, *, username: str) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, {"username": username})


def locked_out_response(request, *, username: str):
    """The lockout page (429) that axes shows for a locked password sign-in."""
    from axes.helpers import get_lockout_response

    return get_lockout_response(request, None, {"username": username})
