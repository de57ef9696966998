"""Signing in as a person does: chromium through the test identity provider's pages, and
through two-factor enrolment, with the portal's Content-Security-Policy in force.

Screenshots go to test-results/screenshots/ (sign-in-*.png)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP

from accounts.oidc import forget_provider_config
from clinic import roles
from conftest import STAFF_PASSWORD
from portal.tests.browser import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_sso(sso, live_server):
    sso.redirect_uris.add(f"{live_server.url}/accounts/sso/callback/")
    forget_provider_config()
    return sso


def _shot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"sign-in-{name}.png"), full_page=True)


def test_a_manager_signs_in_through_the_identity_provider_and_out_of_both(page, live_sso):
    page.goto("/accounts/login/")
    _shot(page, "login-with-sso")
    page.get_by_role("link", name="Sign in with Test IdP").click()

    # The provider's own page, on its own origin.
    page.wait_for_url(f"{live_sso.issuer}/authorize?**")
    page.get_by_label("Account").select_option("mia")
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Reports").is_visible()  # a manager's page
    assert page.locator(".who").inner_text() == "Mia Chen"
    user = get_user_model().objects.get(email="mia@clinic.example")
    assert roles.user_role(user) == roles.MANAGER
    _shot(page, "today-after-sso")
    # Their provider did the MFA; the portal's Two-factor page says so.
    page.get_by_role("link", name="Two-factor").click()
    page.get_by_text("Your organisation's sign-in asks for the second factor").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You are signed out of the portal").wait_for()
    _shot(page, "signed-out")
    page.get_by_role("link", name="Sign out of Test IdP").click()
    page.wait_for_url("**/accounts/login/")
    assert live_sso.end_session_requests[0]["id_token_hint"]
    page.goto("/")
    assert "/accounts/login/" in page.url
    assert page.console_errors == [], page.console_errors


def test_someone_with_no_portal_group_sees_why(page, live_sso):
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.get_by_label("Account").select_option("sam")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="No access to the waitlist portal").wait_for()
    _shot(page, "no-role")
    # The page itself answers 403, which chromium reports; nothing else may go wrong.
    assert [e for e in page.console_errors if "status of 403" not in e] == []


def test_a_manager_sets_up_two_factor_from_the_qr_code_page(page, manager_user):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    assert page.locator("svg.qr").is_visible()
    _shot(page, "two-factor-setup")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    # What an authenticator app does with the key typed in by hand.
    from base64 import b32decode

    key = b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label("Code from the app").fill(f"{TOTP(key).token():06d}")
    page.get_by_role("button", name="Turn on two-factor").click()

    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert page.get_by_test_id("recovery-codes").locator("li").count() == 10
    _shot(page, "recovery-codes")
    page.get_by_role("link", name="I have saved them: continue").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Reports").is_visible()
    assert page.console_errors == [], page.console_errors
