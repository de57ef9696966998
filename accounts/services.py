"""Staff sign-in: accounts from single sign-on, two-factor devices and recovery codes.

Changes to a staff account's role or second factor are written to the Django admin's
history of that user (LogEntry), next to what managers change in the admin and on the
Staff page, so "who could do what, since when" reads in one place.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SsoIdentity
from accounts.oidc import role_claim_values, role_from_claims
from clinic import roles

logger = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


class NoPortalRole(Exception):
    """The identity provider signed the person in, but none of their groups maps to a
    portal role (OIDC_ROLE_MAP)."""

    def __init__(self, display: str):
        super().__init__(display)
        self.display = display


def audit_log(*, user: AbstractUser, by: AbstractUser | None = None, message: str,
              flag: int = CHANGE) -> None:
    LogEntry.objects.log_actions(user_id=(by or user).pk, queryset=[user], action_flag=flag,
                                 change_message=message, single_object=True)


# --- Single sign-on ----------------------------------------------------------------------

def _display_name(claims: dict) -> str:
    return str(claims.get("email") or claims.get(settings.OIDC_USERNAME_CLAIM)
               or claims.get("name") or claims["sub"])


def _free_username(claims: dict) -> str:
    """The provider's name for the person (OIDC_USERNAME_CLAIM, else e-mail, else sub),
    made unique: a local account may already use it, and is never taken over."""
    User = get_user_model()
    base = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email")
               or claims["sub"]).strip().lower()
    base = re.sub(r"[^\w.@+-]", "_", base)[:140] or "sso-user"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}-{n}"
    return username


def _sso_user_create(claims: dict) -> AbstractUser:
    # Another new person may take the same free name a moment earlier: then the next one.
    for _ in range(20):
        user = get_user_model()(username=_free_username(claims))
        user.set_unusable_password()  # signs in through the provider only
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            continue
        return user
    raise IntegrityError(f"no free username for {_display_name(claims)}")


def sso_sign_in(*, issuer: str, claims: dict) -> AbstractUser:
    """The staff account for a person the identity provider vouched for, with the role
    their groups give them now (re-synced at every sign-in). Nobody gets an account, or
    keeps one's rights, without a mapped role: that raises NoPortalRole (after the rights
    are taken away, which stays done)."""
    subject = str(claims["sub"])
    role = role_from_claims(claims)
    if role is None:
        _sso_roles_remove(issuer=issuer, subject=subject)
        logger.warning("SSO sign-in refused: %s has no %s mapped to a portal role",
                       _display_name(claims), settings.OIDC_ROLE_CLAIM)
        raise NoPortalRole(_display_name(claims))
    try:
        return _sso_account_sync(issuer=issuer, subject=subject, claims=claims, role=role)
    except IntegrityError:
        # A new person signing in twice at once (a double click at the provider), or two
        # new people wanting the same username: the other transaction won; look again.
        return _sso_account_sync(issuer=issuer, subject=subject, claims=claims, role=role)


@transaction.atomic
def _sso_roles_remove(*, issuer: str, subject: str) -> None:
    identity = (SsoIdentity.objects.select_for_update().select_related("user")
                .filter(issuer=issuer, subject=subject).first())
    if identity is not None and roles.user_role(identity.user) is not None:
        roles.role_assign(user=identity.user, role=None)
        audit_log(user=identity.user, message=(
            "All roles removed at sign-in: the identity provider no longer gives "
            f"{settings.OIDC_ROLE_CLAIM} that map to a portal role"))


@transaction.atomic
def _sso_account_sync(*, issuer: str, subject: str, claims: dict, role: str) -> AbstractUser:
    identity = (SsoIdentity.objects.select_for_update().select_related("user")
                .filter(issuer=issuer, subject=subject).first())
    created = identity is None
    if created:
        user = _sso_user_create(claims)
        identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    user = identity.user
    user.first_name = str(claims.get("given_name") or user.first_name)[:150]
    user.last_name = str(claims.get("family_name") or user.last_name)[:150]
    user.email = str(claims.get("email") or user.email)[:254]
    user.save(update_fields=["first_name", "last_name", "email"])
    if roles.user_role(user) != role:
        roles.role_assign(user=user, role=role)
        groups = ", ".join(role_claim_values(claims))[:200]
        audit_log(user=user, flag=ADDITION if created else CHANGE, message=(
            f"{'Added' if created else 'Role changed'} at single sign-on: {role} "
            f"(from {settings.OIDC_ROLE_CLAIM}: {groups})"))
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    return user


def sso_managed(user: AbstractUser) -> bool:
    """True for an account whose role comes from the identity provider."""
    return SsoIdentity.objects.filter(user_id=user.pk).exists()


# --- Two-factor ----------------------------------------------------------------------------

def two_factor_required(user: AbstractUser) -> bool:
    """Password sign-in asks these people for a second factor: managers, admins, anyone
    who can open the Django admin, and front desk when TWO_FACTOR_FRONT_DESK=required."""
    role = roles.user_role(user)
    if user.is_staff or user.is_superuser or role in (roles.MANAGER, roles.ADMIN):
        return True
    return role == roles.FRONT_DESK and settings.TWO_FACTOR_FRONT_DESK == "required"


def two_factor_devices(user: AbstractUser) -> list[Device]:
    return [*TOTPDevice.objects.devices_for_user(user, confirmed=True),
            *StaticDevice.objects.devices_for_user(user, confirmed=True)]


def two_factor_enrolled(user: AbstractUser) -> bool:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def recovery_codes_left(user: AbstractUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    wait_seconds: int = 0  # > 0: too many wrong codes just now, this one was not tried

    @property
    def accepted(self) -> bool:
        return self.device is not None


def normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def two_factor_check(*, user: AbstractUser, code: str) -> CodeCheck:
    """Try a code against the user's authenticator (six digits) or recovery codes
    (anything else; each works once). Devices back off after wrong codes (django-otp's
    throttling: 1, 2, 4... seconds); a code sent during the wait is not tried."""
    code = normalize_code(code)
    model = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    wait = 0
    with transaction.atomic():
        devices = model.objects.devices_for_user(user, confirmed=True).select_for_update()
        for device in devices:
            allowed, info = device.verify_is_allowed()
            if not allowed:
                until = (info or {}).get("locked_until")
                wait = max(wait, int((until - timezone.now()).total_seconds()) + 1
                           if until else 1)
                continue
            if device.verify_token(code):
                return CodeCheck(device=device)
    return CodeCheck(device=None, wait_seconds=wait)


def two_factor_enrolment_device(user: AbstractUser) -> TOTPDevice:
    """The authenticator being set up: kept until confirmed, so reloading the page shows
    the same QR code the person may already have scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME,
                                               confirmed=False)


@transaction.atomic
def two_factor_enrol(*, user: AbstractUser, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the new authenticator with a code it shows. Replaces any earlier
    authenticator and recovery codes; returns the new recovery codes (shown once), or
    None for a wrong code."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if not device.verify_token(normalize_code(code)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_replace(user)
    audit_log(user=user, message="Two-factor turned on: authenticator app and "
                                 f"{len(codes)} recovery codes")
    return codes


def _recovery_codes_replace(user: AbstractUser) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: AbstractUser) -> list[str]:
    codes = _recovery_codes_replace(user)
    audit_log(user=user, message="New recovery codes made; the old ones no longer work")
    return codes


@transaction.atomic
def two_factor_reset(*, user: AbstractUser, by: AbstractUser) -> None:
    """An admin's answer to a lost phone: the person sets up a new authenticator at
    their next sign-in."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_log(user=user, by=by, message="Two-factor reset: a new authenticator is set up "
                                        "at the next sign-in")
