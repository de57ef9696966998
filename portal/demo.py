"""The demo clinic that `make run` loads: staff logins, providers, patients on the waitlist."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from clinic import roles
from clinic.models import AppointmentType, Location, Patient, Provider
from waitlist.models import WaitlistEntry

DEMO_PASSWORD = "waitlist-demo-2026"
# Managers and admins sign in with a second factor, in the demo too. Their authenticator
# is this published key (like the password, for the demo only): add it to an app, or
# `python manage.py demo_code manager` prints the current code.
DEMO_TOTP_KEY = b"waitlist-demo-totp!!".hex()
DEMO_DEVICE_NAME = "Demo authenticator"
DEMO_USERS = [
    # username, role, Django admin access, superuser
    ("frontdesk", roles.FRONT_DESK, False, False),
    ("manager", roles.MANAGER, True, False),  # reviews the audit trail in the admin
    ("admin", roles.ADMIN, True, True),
]
PROVIDERS = [
    ("Dr. Maya Patel", "1234567893"),
    ("Dr. Luis Ortega", "1245319599"),
    ("Dr. Grace Kim", "1356802418"),
]
TYPES = [
    ("follow-up", "Follow-up visit", 20),
    ("new-patient", "New patient visit", 40),
    ("annual", "Annual physical", 30),
]
# first, last, language
PATIENTS = [
    ("Ana", "Gomez", "es"), ("Ben", "Carter", "en"), ("Chloe", "Nguyen", "en"),
    ("Diego", "Ramirez", "es"), ("Ella", "Johnson", "en"), ("Farid", "Haddad", "en"),
    ("Grace", "Okafor", "en"), ("Hugo", "Silva", "es"), ("Iris", "Walker", "en"),
    ("Jamal", "Brooks", "en"), ("Keiko", "Tanaka", "en"), ("Lucia", "Morales", "es"),
]
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"


# The demo clinic's day: appointments every 20 minutes from 8:00 AM to 4:40 PM, so the
# demo's times look like a clinic's, not like whenever `make run` was started.
CLINIC_OPENS = dt.time(8, 0)
VISITS_A_DAY = 27


def _clinic_hours(day: dt.date, index: int) -> dt.datetime:
    """A weekday time during clinic hours for demo row `index` (spread over the day)."""
    while day.weekday() >= 5:  # Saturday, Sunday: the demo clinic is closed
        day += dt.timedelta(days=1)
    minutes = (index * 7 % VISITS_A_DAY) * 20
    opens = dt.datetime.combine(day, CLINIC_OPENS)
    return timezone.make_aware(opens + dt.timedelta(minutes=minutes))


def demo_totp_secret() -> str:
    from accounts.qr import secret_text

    return secret_text(bytes.fromhex(DEMO_TOTP_KEY))


@transaction.atomic
def seed_demo() -> list[tuple[str, str, bool]]:
    """Create (or leave as they are) the demo data. Returns [(username, role, created)]."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.services import two_factor_required

    roles.ensure_roles()
    User = get_user_model()
    logins = []
    for username, role, staff, superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"is_staff": staff, "is_superuser": superuser,
                      "first_name": username.capitalize()},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        if created and two_factor_required(user):
            TOTPDevice.objects.create(user=user, name=DEMO_DEVICE_NAME, key=DEMO_TOTP_KEY,
                                      confirmed=True)
        logins.append((username, role, created))

    main_site, _ = Location.objects.get_or_create(
        name="Main Street clinic", defaults={"address": "100 Main St"}
    )
    providers = []
    for name, npi in PROVIDERS:
        provider, _ = Provider.objects.get_or_create(
            identifier_system=NPI_SYSTEM, identifier_value=npi,
            defaults={"name": name, "location": main_site},
        )
        providers.append(provider)
    types = [
        AppointmentType.objects.get_or_create(
            code=code, defaults={"name": name, "duration_minutes": minutes}
        )[0]
        for code, name, minutes in TYPES
    ]

    today = timezone.localdate()
    for index, (first, last, language) in enumerate(PATIENTS):
        patient, created = Patient.objects.get_or_create(
            phone=f"+1312555{index + 150:04d}",
            defaults={"first_name": first, "last_name": last, "preferred_language": language},
        )
        if not created:
            continue
        entry = WaitlistEntry.objects.create(
            patient=patient,
            any_provider=index % 3 == 0,
            appointment_type=types[index % 2],
            urgent=index % 5 == 0,
            boost=(index % 4) * 5,
            current_appointment_at=_clinic_hours(today + dt.timedelta(days=20 + 17 * index),
                                                 index),
            added_at=_clinic_hours(today - dt.timedelta(days=3 + 9 * index), index + 5),
            comment="Demo patient",
        )
        if not entry.any_provider:
            # Two providers each, wrapping round, so every provider has patients waiting.
            entry.providers.set([providers[(index + k) % len(providers)] for k in (0, 1)])
    return logins
