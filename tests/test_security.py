"""Who gets in: lockout, password rules, the Content-Security-Policy, production cookies."""

import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from clinic.tests.test_settings import GOOD_SECRET, ROOT
from conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, front_desk_user):
    for _ in range(4):
        response = sign_in(client, "frontdesk", "not-the-password")
        assert response.status_code == 200
        assert "enter a correct username and password" in response.content.decode()
    response = sign_in(client, "frontdesk", "not-the-password")
    assert response.status_code == 429

    response = sign_in(client, "frontdesk", STAFF_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_lasts_fifteen_minutes_as_the_page_says(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME * 60 == 15
    assert settings.AXES_LOCKOUT_TEMPLATE == "registration/locked_out.html"


def test_a_successful_sign_in_clears_earlier_failures(client, front_desk_user):
    for _ in range(4):
        sign_in(client, "frontdesk", "not-the-password")
    response = sign_in(client, "frontdesk", STAFF_PASSWORD)
    assert response.status_code == 302
    client.logout()
    # Four more failures would have been the ninth had success not reset the count.
    for _ in range(4):
        assert sign_in(client, "frontdesk", "not-the-password").status_code == 200
    assert sign_in(client, "frontdesk", STAFF_PASSWORD).status_code == 302


def test_one_users_failures_do_not_lock_out_a_colleague(client, front_desk_user, manager_user):
    for _ in range(6):
        sign_in(client, "frontdesk", "not-the-password")
    assert sign_in(client, "manager", STAFF_PASSWORD).status_code == 302


def test_two_clients_behind_the_proxy_are_locked_out_separately(client, front_desk_user):
    """Every request reaches gunicorn from the proxy's address; the proxy appends the
    client's own address to X-Forwarded-For, and the lockout counts per that address."""
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(5):
        client.post(reverse("login"), {"username": "frontdesk", "password": "wrong-password"},
                    HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    locked = client.post(reverse("login"), {"username": "frontdesk", "password": STAFF_PASSWORD},
                         HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    assert locked.status_code == 429

    other = client.post(reverse("login"), {"username": "frontdesk", "password": STAFF_PASSWORD},
                        HTTP_X_FORWARDED_FOR="198.51.100.20", **proxy)
    assert other.status_code == 302


def test_a_client_cannot_escape_the_lockout_by_forging_earlier_forwarded_hops(
        client, front_desk_user):
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for attempt in range(5):
        client.post(reverse("login"), {"username": "frontdesk", "password": "wrong-password"},
                    HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, 203.0.113.7", **proxy)
    response = client.post(reverse("login"),
                           {"username": "frontdesk", "password": STAFF_PASSWORD},
                           HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7", **proxy)
    assert response.status_code == 429


def test_in_development_without_a_proxy_forwarded_headers_are_ignored(rf, settings):
    from clinic.lib.clientip import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="203.0.113.7", REMOTE_ADDR="127.0.0.1")
    settings.DEBUG = True
    assert client_ip(request) == "127.0.0.1"
    settings.DEBUG = False
    assert client_ip(request) == "203.0.113.7"
    assert client_ip(rf.get("/", HTTP_X_FORWARDED_FOR="not-an-ip",
                            REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


def test_without_a_forwarded_header_the_lockout_counts_the_connecting_address(
        client, front_desk_user):
    for _ in range(5):
        client.post(reverse("login"), {"username": "frontdesk", "password": "wrong-password"},
                    REMOTE_ADDR="198.51.100.5")
    assert client.post(reverse("login"), {"username": "frontdesk", "password": STAFF_PASSWORD},
                       REMOTE_ADDR="198.51.100.6").status_code == 302


@pytest.mark.parametrize("password", ["short1", "password123", "1234567890123", "frontdesk-1"])
def test_weak_passwords_are_refused(front_desk_user, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=front_desk_user)


def test_a_long_unusual_password_is_accepted(front_desk_user):
    validate_password("violet-kettle-harbour-42", user=front_desk_user)


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/healthz"])
def test_every_response_carries_a_strict_content_security_policy(client, url):
    directives = csp_directives(client.get(url))
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    for values in directives.values():
        assert "'unsafe-inline'" not in values
        assert "'unsafe-eval'" not in values


def test_pages_cannot_be_framed(client):
    assert client.get("/accounts/login/")["X-Frame-Options"] == "DENY"


def test_admin_pages_carry_no_inline_script_or_style(client, admin_user):
    from clinic.tests.factories import PatientFactory

    patient = PatientFactory()
    client.force_login(admin_user)
    for url in [reverse("admin:index"),
                reverse("admin:clinic_patient_changelist"),
                reverse("admin:clinic_patient_change", args=[patient.pk]),
                reverse("admin:django_celery_beat_periodictask_add")]:
        html = client.get(url).content.decode()
        assert "<script>" not in html, url
        for tag in html.split("<script")[1:]:
            assert "src=" in tag.split(">", 1)[0] or "application/json" in tag.split(">", 1)[0], (
                url, tag[:200])
        assert " onclick=" not in html, url
        assert " onload=" not in html, url
        assert " style=" not in html, url


def test_admin_is_closed_to_signed_in_users_who_are_not_staff(client, outsider_user):
    client.force_login(outsider_user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_manager_cannot_make_anyone_a_superuser_or_an_admin(client, manager_user,
                                                               front_desk_user):
    from django.contrib.auth.models import Group

    from clinic import roles

    client.force_login(manager_user)
    url = reverse("admin:auth_user_change", args=[manager_user.pk])
    page = client.get(url)
    assert page.status_code == 200
    admin_group = Group.objects.get(name=roles.ADMIN)
    form = page.context["adminform"].form
    assert "is_superuser" not in form.fields
    assert "user_permissions" not in form.fields
    assert admin_group not in form.fields["groups"].queryset

    client.post(url, {"username": "manager", "is_superuser": "on", "is_active": "on",
                      "is_staff": "on", "groups": [admin_group.pk],
                      "user_permissions": [], "date_joined_0": "2025-01-01",
                      "date_joined_1": "00:00:00"})
    manager_user.refresh_from_db()
    assert not manager_user.is_superuser
    assert not manager_user.groups.filter(name=roles.ADMIN).exists()


def test_a_manager_can_still_give_a_colleague_the_front_desk_role(client, manager_user,
                                                                  front_desk_user):
    from django.contrib.auth.models import Group

    from clinic import roles

    client.force_login(manager_user)
    url = reverse("admin:auth_user_change", args=[front_desk_user.pk])
    form = client.get(url).context["adminform"].form
    assert set(form.fields["groups"].queryset.values_list("name", flat=True)) == {
        roles.FRONT_DESK, roles.MANAGER}
    assert Group.objects.get(name=roles.FRONT_DESK) in front_desk_user.groups.all()


PRODUCTION_PROBE = """
import django, json
django.setup()
from django.test import Client
from django.conf import settings
from django.test.utils import override_settings
# No collectstatic here: the manifest storage would refuse every {% static %}.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client(HTTP_HOST="clinic.example.org")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
cookie = secure.cookies["csrftoken"]
print(json.dumps({
    "redirect": [plain.status_code, plain.get("Location")],
    "hsts": secure.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(cookie["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csp": secure.get("Content-Security-Policy"),
}))
"""


def test_production_sends_hsts_secure_cookies_and_redirects_to_https():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))}
    env.update({"DEBUG": "false", "DATABASE_URL": "sqlite:///:memory:", "SECURE_SSL_REDIRECT": "",
                "SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "clinic.example.org",
                "DJANGO_SETTINGS_MODULE": "clinic.settings"})
    result = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["redirect"] == [301, "https://clinic.example.org/accounts/login/"]
    assert facts["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert facts["csrf_cookie_secure"] is True
    assert facts["session_cookie_secure"] is True
    assert facts["session_cookie_httponly"] is True
    assert "default-src 'self'" in facts["csp"]


def test_webhooks_need_no_csrf_token_but_a_valid_signature(fake_twilio):
    from django.test import Client

    from messaging.models import Message
    from messaging.tests.twilio_fakes import FROM_NUMBER, twilio_post

    strict = Client(enforce_csrf_checks=True)
    params = {"From": "+13125550142", "To": FROM_NUMBER, "Body": "HELP", "MessageSid": "SMcsrf1"}
    assert twilio_post(strict, "/twilio/sms/", params).status_code == 200
    forged = dict(params, MessageSid="SMcsrf2")
    assert twilio_post(strict, "/twilio/sms/", forged, token="not-the-token").status_code == 403
    assert twilio_post(strict, "/twilio/sms/", forged, signature="").status_code == 403
    assert twilio_post(strict, "/twilio/status/", {"MessageSid": "SMcsrf1",
                                                    "MessageStatus": "delivered"},
                       token="not-the-token").status_code == 403
    assert not Message.objects.filter(twilio_sid="SMcsrf2").exists()


def test_other_posts_still_need_a_csrf_token(front_desk_user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "frontdesk",
                                              "password": STAFF_PASSWORD})
    assert response.status_code == 403
