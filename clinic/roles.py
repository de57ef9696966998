"""Staff roles are Django groups, kept in step with this table after every migrate."""

from django.db.models.signals import post_migrate

FRONT_DESK = "Front desk"
MANAGER = "Manager"
ADMIN = "Admin"
# Lowest first: a person in several roles has the highest one.
ROLE_RANK = (FRONT_DESK, MANAGER, ADMIN)

# app_label.codename for each role; a later role has everything of the earlier ones.
FRONT_DESK_PERMISSIONS = [
    "clinic.view_patient",
    "clinic.add_patient",
    "clinic.change_patient",
    "clinic.view_provider",
    "clinic.view_appointmenttype",
    "clinic.view_location",
    "waitlist.view_waitlistentry",
    "waitlist.add_waitlistentry",
    "waitlist.change_waitlistentry",
    "waitlist.delete_waitlistentry",
    "offers.view_slot",
    "offers.add_slot",
    "offers.change_slot",
    "offers.view_offer",
    "messaging.view_message",
]
MANAGER_PERMISSIONS = FRONT_DESK_PERMISSIONS + [
    "waitlist.prioritize_waitlistentry",
    "offers.view_reports",
    # Clinic rules (the Rules page, docs/rules.md).
    "offers.view_offerrule",
    "offers.add_offerrule",
    "offers.change_offerrule",
    "offers.delete_offerrule",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
]
ROLE_PERMISSIONS = {FRONT_DESK: FRONT_DESK_PERMISSIONS, MANAGER: MANAGER_PERMISSIONS}


def user_role(user) -> str | None:
    """The highest role a staff user holds, or None. A superuser is an admin."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    for role in reversed(ROLE_RANK):
        if role in names:
            return role
    return None


def role_assign(*, user, role: str | None) -> None:
    """Give the user exactly `role` (None: no role at all), as the demo and the admin do:
    managers review the audit trail in the Django admin (staff), admins are superusers."""
    from django.contrib.auth.models import Group

    if role is not None and role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")
    user.is_staff = role in (MANAGER, ADMIN)
    user.is_superuser = role == ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.remove(*Group.objects.filter(name__in=ROLE_RANK).exclude(name=role))
    if role is not None:
        user.groups.add(Group.objects.get(name=role))


def ensure_roles(**_kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm:
                wanted.append(perm)
        group.permissions.set(wanted)
    # Admins use the Django admin; they are superusers or staff with every permission.
    admin_group, _ = Group.objects.get_or_create(name=ADMIN)
    admin_group.permissions.set(Permission.objects.all())


def connect() -> None:
    post_migrate.connect(ensure_roles, dispatch_uid="clinic.ensure_roles")
