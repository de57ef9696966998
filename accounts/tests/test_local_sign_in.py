"""Switching password sign-in off once SSO runs, but for one break-glass administrator."""

import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.tests.test_two_factor import code_for, code_step, password_step, signed_in
from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso_only(sso, settings):
    settings.LOCAL_PASSWORD_SIGN_IN = False
    settings.BREAK_GLASS_USERNAME = "admin"
    return sso


@pytest.fixture
def visitor():
    return Client()


def test_with_local_sign_in_off_the_login_page_offers_only_the_provider(visitor, sso_only):
    page = visitor.get(reverse("login")).content.decode()
    assert "Sign in with Test IdP" in page
    assert 'name="password"' not in page
    assert "Emergency administrator sign-in" in page


def test_with_local_sign_in_off_a_right_password_signs_nobody_in(
        visitor, sso_only, front_desk_user, manager_user):
    for username in ("frontdesk", "manager"):
        response = password_step(visitor, username)
        assert response.status_code == 200
        assert "Password sign-in is switched off here: use Test IdP." in \
            response.content.decode()
        assert not signed_in(visitor)


def test_the_admins_own_login_form_is_no_way_around_it(visitor, sso_only, manager_user):
    visitor.post(reverse("admin:login"), {"username": "manager", "password": STAFF_PASSWORD})
    assert not signed_in(visitor)


def test_the_break_glass_admin_signs_in_with_password_and_code_and_is_logged_loudly(
        visitor, sso_only, admin_user, caplog):
    device = TOTPDevice.objects.create(user=admin_user, name="Authenticator app", confirmed=True)
    page = visitor.get(reverse("accounts:emergency_login")).content.decode()
    assert "Every sign-in here is logged and reviewed" in page

    with caplog.at_level(logging.WARNING, logger="accounts"):
        response = visitor.post(reverse("accounts:emergency_login"),
                                {"username": "admin", "password": STAFF_PASSWORD})
        assert response["Location"] == reverse("accounts:two_factor_verify")
        assert not caplog.records  # not signed in yet: the code is still to come
        code_step(visitor, code_for(device))

    assert signed_in(visitor)
    warning = next(r for r in caplog.records if r.name == "accounts.break_glass")
    assert warning.levelno == logging.WARNING
    assert "BREAK-GLASS sign-in: the emergency administrator 'admin' signed in from 127.0.0.1" \
        in warning.getMessage()
    entry = LogEntry.objects.get(object_id=admin_user.pk)
    assert entry.change_message.startswith("Break-glass sign-in from 127.0.0.1")


def test_someone_else_on_the_emergency_page_gets_the_usual_answer(
        visitor, sso_only, manager_user, admin_user):
    """The page does not tell which username is the break-glass one."""
    for username, password in (("manager", STAFF_PASSWORD), ("admin", "wrong-password")):
        response = visitor.post(reverse("accounts:emergency_login"),
                                {"username": username, "password": password})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
        assert not signed_in(visitor)


def test_a_failed_break_glass_sign_in_is_logged_loudly(visitor, sso_only, admin_user, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.break_glass"):
        password_step(visitor, "admin", password="wrong-password")
    assert "BREAK-GLASS account: a sign-in as 'admin' failed from 127.0.0.1" in caplog.text


def test_the_break_glass_admin_is_logged_loudly_with_local_sign_in_on_too(
        visitor, settings, admin_user, caplog):
    settings.BREAK_GLASS_USERNAME = "admin"
    device = TOTPDevice.objects.create(user=admin_user, name="Authenticator app", confirmed=True)
    with caplog.at_level(logging.WARNING, logger="accounts.break_glass"):
        password_step(visitor, "admin")
        code_step(visitor, code_for(device))
    assert "local password sign-in is on" in caplog.text


def test_sso_still_signs_staff_in_with_local_sign_in_off(visitor, sso_only):
    from accounts.tests.conftest import sso_sign_in

    assert sso_sign_in(visitor, sso_only, "mia").status_code == 302
    assert signed_in(visitor)
