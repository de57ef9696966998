"""Staff accounts, as a manager keeps them in the portal: add someone, move them between
front desk and manager, deactivate or reactivate them. Admins (superusers and the Admin
group) are kept in the Django admin and are not changed here, and nobody changes their
own account here, so a manager cannot lock themselves out or raise themselves up.

Each change is written to the Django admin's history of that user (LogEntry), so it
shows who did what next to the changes made in the admin.
"""

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic import roles

PORTAL_ROLES = (roles.FRONT_DESK, roles.MANAGER)


def staff_is_admin(user: AbstractUser) -> bool:
    return user.is_superuser or any(g.name == roles.ADMIN for g in user.groups.all())


def _check_changeable(*, user: AbstractUser, by: AbstractUser) -> None:
    if user.pk == by.pk:
        raise ValidationError("You cannot change your own account here.")
    if staff_is_admin(user):
        raise ValidationError("Admins are managed in the Django admin.")


def _check_role_changeable(*, user: AbstractUser) -> None:
    from accounts.services import sso_managed

    # Single sign-on sets it again at every sign-in; a change here would not last.
    if sso_managed(user):
        raise ValidationError(f"Their role comes from {settings.OIDC_PROVIDER_NAME} "
                              "(single sign-on): change their groups there.")


def _role_group(role: str) -> Group:
    if role not in PORTAL_ROLES:
        raise ValidationError(f"Unknown role: {role}.")
    return Group.objects.get(name=role)


def _log(*, by: AbstractUser, user: AbstractUser, flag: int, message: str) -> None:
    LogEntry.objects.log_actions(user_id=by.pk, queryset=[user], action_flag=flag,
                                 change_message=f"{message} (staff portal)",
                                 single_object=True)


@transaction.atomic
def staff_create(*, username: str, first_name: str, last_name: str, password: str,
                 role: str, by: AbstractUser) -> AbstractUser:
    group = _role_group(role)
    user = get_user_model().objects.create_user(
        username=username, password=password, first_name=first_name, last_name=last_name)
    user.groups.add(group)
    _log(by=by, user=user, flag=ADDITION, message=f"Added as {role}")
    return user


@transaction.atomic
def staff_set_role(*, user: AbstractUser, role: str, by: AbstractUser) -> None:
    _check_changeable(user=user, by=by)
    _check_role_changeable(user=user)
    group = _role_group(role)
    user.groups.remove(*Group.objects.filter(name__in=PORTAL_ROLES))
    user.groups.add(group)
    _log(by=by, user=user, flag=CHANGE, message=f"Role changed to {role}")


@transaction.atomic
def staff_set_active(*, user: AbstractUser, active: bool, by: AbstractUser) -> None:
    _check_changeable(user=user, by=by)
    user.is_active = active
    user.save(update_fields=["is_active"])
    _log(by=by, user=user, flag=CHANGE, message="Reactivated" if active else "Deactivated")
