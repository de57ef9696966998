"""Two-factor for password sign-in: enrolment, codes, recovery codes, lockout, the admin.

Every test signs in through the pages, as a person would; the codes come from the same
TOTP algorithm an authenticator app runs (django_otp.oath)."""

import time
from base64 import b32encode

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.signals import PENDING_SESSION_KEY
from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def recovery_codes(user, codes=("k3y5abcd", "m9n8p7q6")) -> list[str]:
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    for code in codes:
        StaticToken.objects.create(device=device, token=code)
    return list(codes)


def password_step(visitor, username, password=STAFF_PASSWORD, **extra):
    return visitor.post(reverse("login"), {"username": username, "password": password, **extra})


def code_step(visitor, code):
    return visitor.post(reverse("accounts:two_factor_verify"), {"code": code})


def signed_in(visitor) -> bool:
    return "_auth_user_id" in visitor.session


@pytest.fixture
def visitor():
    """A plain test client: nothing but the pages marks a second factor."""
    return Client()


@pytest.fixture
def quick_retries(settings):
    """No back-off between wrong codes, so a test can reach the lockout at once."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


# --- Enrolment -------------------------------------------------------------------------------

def test_a_password_alone_does_not_sign_a_manager_in(visitor, manager_user):
    response = password_step(visitor, "manager")

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:two_factor_setup")
    assert not signed_in(visitor)
    assert visitor.get(reverse("portal:today")).status_code == 302
    assert visitor.get(reverse("admin:index")).status_code == 302


def test_enrolment_shows_a_qr_code_and_the_key_and_the_first_code_signs_in(
        visitor, manager_user):
    password_step(visitor, "manager", next="/reports/")

    page = visitor.get(reverse("accounts:two_factor_setup"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]  # the key must not stay in a cache
    assert '<svg width="' in html
    assert 'class="qr"' in html
    device = TOTPDevice.objects.get(user=manager_user, confirmed=False)
    secret = html.split('data-testid="totp-secret">', 1)[1].split("<", 1)[0]
    assert secret.replace(" ", "") == b32encode(device.bin_key).decode().rstrip("=")
    # Reloading shows the same code: the person may have scanned it already.
    visitor.get(reverse("accounts:two_factor_setup"))
    assert TOTPDevice.objects.filter(user=manager_user).count() == 1

    response = visitor.post(reverse("accounts:two_factor_setup"), {"code": code_for(device)})

    assert response["Location"] == reverse("accounts:recovery_codes")
    assert signed_in(visitor)
    device.refresh_from_db()
    assert device.confirmed
    codes_response = visitor.get(reverse("accounts:recovery_codes"))
    assert "no-store" in codes_response["Cache-Control"]
    codes_page = codes_response.content.decode()
    codes = list(StaticToken.objects.filter(device__user=manager_user)
                 .values_list("token", flat=True))
    assert len(codes) == 10
    assert all(f"<code>{code}</code>" in codes_page for code in codes)
    assert 'href="/reports/"' in codes_page  # then on to where they were going
    # Shown once: never again.
    again = visitor.get(reverse("accounts:recovery_codes"), follow=True).content.decode()
    assert not any(code in again for code in codes)
    assert "shown only once" in again
    assert visitor.get(reverse("admin:index")).status_code == 200
    assert "Two-factor turned on" in LogEntry.objects.get(object_id=manager_user.pk) \
        .change_message


def test_a_wrong_code_at_enrolment_turns_nothing_on(visitor, manager_user):
    password_step(visitor, "manager")
    visitor.get(reverse("accounts:two_factor_setup"))
    device = TOTPDevice.objects.get(user=manager_user, confirmed=False)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    response = visitor.post(reverse("accounts:two_factor_setup"), {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert not signed_in(visitor)
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.exists()


def test_a_password_alone_cannot_swap_an_existing_authenticator(visitor, manager_user):
    authenticator(manager_user)
    password_step(visitor, "manager")

    response = visitor.get(reverse("accounts:two_factor_setup"))

    assert response["Location"] == reverse("accounts:two_factor_verify")
    assert TOTPDevice.objects.filter(user=manager_user).count() == 1


def test_a_signed_in_person_moves_to_a_new_phone(visitor, manager_user):
    old = authenticator(manager_user)
    password_step(visitor, "manager")
    code_step(visitor, code_for(old))
    visitor.get(reverse("accounts:two_factor_setup"))
    new = TOTPDevice.objects.get(user=manager_user, confirmed=False)

    visitor.post(reverse("accounts:two_factor_setup"), {"code": code_for(new)})

    assert list(TOTPDevice.objects.filter(user=manager_user)) == [new]
    assert visitor.get(reverse("admin:index")).status_code == 200  # still verified


# --- Signing in with a code --------------------------------------------------------------------

def test_a_manager_with_an_authenticator_signs_in_with_its_code(visitor, manager_user):
    device = authenticator(manager_user)

    response = password_step(visitor, "manager")
    assert response["Location"] == reverse("accounts:two_factor_verify")
    page = visitor.get(reverse("accounts:two_factor_verify")).content.decode()
    assert "Signing in as <strong>manager</strong>" in page

    response = code_step(visitor, code_for(device))

    assert response["Location"] == reverse("portal:today")
    assert signed_in(visitor)
    assert visitor.get(reverse("admin:index")).status_code == 200
    assert PENDING_SESSION_KEY not in visitor.session


def test_a_wrong_code_is_refused_with_a_clear_message(visitor, manager_user):
    device = authenticator(manager_user)
    password_step(visitor, "manager")

    response = code_step(visitor, f"{(int(code_for(device)) + 1) % 1_000_000:06d}")

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert not signed_in(visitor)


def test_a_code_cannot_be_used_twice(visitor, manager_user):
    device = authenticator(manager_user)
    code = code_for(device)
    password_step(visitor, "manager")
    code_step(visitor, code)
    visitor.post(reverse("logout"))

    password_step(visitor, "manager")
    response = code_step(visitor, code)

    assert response.status_code == 400
    assert not signed_in(visitor)


def test_right_after_a_wrong_code_the_next_one_waits(visitor, manager_user):
    """django-otp's back-off: 1, 2, 4... seconds after each wrong code."""
    device = authenticator(manager_user)
    password_step(visitor, "manager")
    code_step(visitor, "000000" if code_for(device) != "000000" else "111111")

    response = code_step(visitor, code_for(device))

    assert response.status_code == 400
    assert "Too many wrong codes just now: wait" in response.content.decode()
    assert not signed_in(visitor)


def test_five_wrong_codes_lock_the_person_out_as_wrong_passwords_do(
        visitor, manager_user, quick_retries):
    device = authenticator(manager_user)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    password_step(visitor, "manager")
    for _ in range(4):
        assert code_step(visitor, wrong).status_code == 400

    response = code_step(visitor, wrong)

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    # The right password and the right code do not get in while locked.
    assert password_step(visitor, "manager").status_code == 429
    assert code_step(visitor, code_for(device)).status_code == 302  # back to sign-in
    assert not signed_in(visitor)


def test_wrong_passwords_and_wrong_codes_add_up_to_the_lockout(
        visitor, manager_user, quick_retries):
    device = authenticator(manager_user)
    for _ in range(3):
        password_step(visitor, "manager", password="not-the-password")
    password_step(visitor, "manager")
    code_step(visitor, "999999" if code_for(device) != "999999" else "888888")

    response = code_step(visitor, "999999" if code_for(device) != "999999" else "888888")

    assert response.status_code == 429


def test_a_half_finished_sign_in_expires_after_five_minutes(visitor, manager_user):
    device = authenticator(manager_user)
    password_step(visitor, "manager")
    session = visitor.session
    session[PENDING_SESSION_KEY] = {**session[PENDING_SESSION_KEY],
                                    "since": time.time() - 301}
    session.save()

    response = code_step(visitor, code_for(device))

    assert response["Location"] == reverse("login")
    assert not signed_in(visitor)


# --- Recovery codes ----------------------------------------------------------------------------

def test_a_recovery_code_signs_in_once(visitor, manager_user):
    authenticator(manager_user)
    first, second = recovery_codes(manager_user)

    password_step(visitor, "manager")
    response = code_step(visitor, f" {first[:4].upper()}-{first[4:]} ")  # as people type it
    assert response.status_code == 302
    assert signed_in(visitor)
    page = visitor.get(reverse("portal:today")).content.decode()
    assert "You signed in with a recovery code: 1 left" in page
    visitor.post(reverse("logout"))

    password_step(visitor, "manager")
    assert code_step(visitor, first).status_code == 400
    assert not signed_in(visitor)


def test_new_recovery_codes_retire_the_old_ones(visitor, manager_user):
    device = authenticator(manager_user)
    old = recovery_codes(manager_user)
    password_step(visitor, "manager")
    code_step(visitor, code_for(device))

    visitor.post(reverse("accounts:recovery_codes"))

    page = visitor.get(reverse("accounts:recovery_codes")).content.decode()
    new = list(StaticToken.objects.values_list("token", flat=True))
    assert len(new) == 10
    assert all(code in page for code in new)
    assert not set(old) & set(new)


def test_new_recovery_codes_need_a_finished_second_factor(client, front_desk_user):
    """A front-desk person with a password alone cannot make codes for an account."""
    client.force_login(front_desk_user)
    client.post(reverse("accounts:recovery_codes"))
    assert not StaticToken.objects.exists()


# --- Who is asked ------------------------------------------------------------------------------

def test_front_desk_signs_in_with_a_password_alone_by_default(visitor, front_desk_user):
    response = password_step(visitor, "frontdesk")
    assert response["Location"] == reverse("portal:today")
    assert signed_in(visitor)
    page = visitor.get(reverse("accounts:two_factor")).content.decode()
    assert "optional for your role" in page


def test_front_desk_is_asked_when_the_setting_requires_it(visitor, front_desk_user, settings):
    settings.TWO_FACTOR_FRONT_DESK = "required"
    response = password_step(visitor, "frontdesk")
    assert response["Location"] == reverse("accounts:two_factor_setup")
    assert not signed_in(visitor)


def test_front_desk_who_turned_two_factor_on_is_asked_for_it(visitor, front_desk_user):
    authenticator(front_desk_user)
    response = password_step(visitor, "frontdesk")
    assert response["Location"] == reverse("accounts:two_factor_verify")


def test_front_desk_turns_two_factor_on_from_the_two_factor_page(visitor, front_desk_user):
    password_step(visitor, "frontdesk")
    visitor.get(reverse("accounts:two_factor_setup"))
    device = TOTPDevice.objects.get(user=front_desk_user)

    visitor.post(reverse("accounts:two_factor_setup"), {"code": code_for(device)})

    device.refresh_from_db()
    assert device.confirmed
    assert "badge ok" in visitor.get(reverse("accounts:two_factor")).content.decode()


# --- The Django admin --------------------------------------------------------------------------

def test_the_admin_requires_the_second_factor(visitor, admin_user):
    visitor.force_login(admin_user)  # a password-only session, whatever made it

    response = visitor.get(reverse("admin:index"))

    assert response.status_code == 302
    follow = visitor.get(response["Location"])
    assert follow.status_code == 302
    assert follow["Location"].startswith(reverse("login"))


def test_the_admin_has_no_login_form_of_its_own(visitor, admin_user):
    response = visitor.post(reverse("admin:login"),
                            {"username": "admin", "password": STAFF_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not signed_in(visitor)


def test_an_admin_reset_of_two_factor_sends_the_person_to_set_up_again(
        client, admin_user, manager_user, visitor):
    authenticator(manager_user)
    recovery_codes(manager_user)
    client.force_login(admin_user)

    response = client.post(reverse("admin:auth_user_changelist"), {
        "action": "two_factor_reset", "_selected_action": [manager_user.pk]})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=manager_user).exists()
    assert not StaticDevice.objects.filter(user=manager_user).exists()
    assert LogEntry.objects.filter(object_id=manager_user.pk, user=admin_user,
                                   change_message__startswith="Two-factor reset").exists()
    assert password_step(visitor, "manager")["Location"] == reverse("accounts:two_factor_setup")


def test_a_reset_device_no_longer_counts_for_the_admin(visitor, manager_user):
    device = authenticator(manager_user)
    password_step(visitor, "manager")
    code_step(visitor, code_for(device))
    assert visitor.get(reverse("admin:index")).status_code == 200

    device.delete()

    assert visitor.get(reverse("admin:index")).status_code == 302
