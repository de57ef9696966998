"""The break-glass administrator is logged loudly, and every sign-in ends a half-done one."""

import logging

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed

from clinic.lib.clientip import client_ip

logger = logging.getLogger("accounts.break_glass")

PENDING_SESSION_KEY = "accounts_pending_sign_in"


def _is_break_glass(username) -> bool:
    return bool(settings.BREAK_GLASS_USERNAME) and username == settings.BREAK_GLASS_USERNAME


def _on_sign_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session.pop(PENDING_SESSION_KEY, None)
    if not _is_break_glass(user.get_username()):
        return
    from accounts.services import audit_log

    where = client_ip(request) if request is not None else "no request"
    mode = ("local password sign-in is off for everyone else"
            if not settings.LOCAL_PASSWORD_SIGN_IN else "local password sign-in is on")
    logger.warning("BREAK-GLASS sign-in: the emergency administrator %r signed in from %s "
                   "(%s). Check that this was expected.", user.get_username(), where, mode)
    audit_log(user=user, message=f"Break-glass sign-in from {where} ({mode})")


def _on_failed_sign_in(sender, credentials, request=None, **kwargs) -> None:
    username = (credentials or {}).get("username")
    if _is_break_glass(username):
        where = client_ip(request) if request is not None else "no request"
        logger.warning("BREAK-GLASS account: a sign-in as %r failed from %s.", username, where)


def connect() -> None:
    user_logged_in.connect(_on_sign_in, dispatch_uid="accounts.on_sign_in")
    user_login_failed.connect(_on_failed_sign_in, dispatch_uid="accounts.on_failed_sign_in")
