"""Staff roles are Django groups, kept in step with this table after every migrate."""

from django.db.models.signals import post_migrate

FRONT_DESK = "Front desk"
MANAGER = "Manager"
ADMIN = "Admin"

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
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
]
ROLE_PERMISSIONS = {FRONT_DESK: FRONT_DESK_PERMISSIONS, MANAGER: MANAGER_PERMISSIONS}


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
