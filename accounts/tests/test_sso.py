"""Single sign-on end to end: the portal and a real OpenID Connect provider on 127.0.0.1
(accounts/tests/idp.py) trade codes and signed tokens over HTTP, as with Entra ID or Okta."""

import datetime as dt
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from joserfc.jwk import RSAKey

from accounts.models import SsoIdentity
from accounts.tests.conftest import at_provider, callback, sso_sign_in, sso_start
from accounts.tests.idp import CLIENT_ID
from clinic import roles
from clinic.tests.factories import ProviderFactory
from conftest import STAFF_PASSWORD
from offers.models import Slot
from portal.middleware import SESSION_KEY as LAST_ACTIVITY

pytestmark = pytest.mark.django_db

User = get_user_model()


def signed_in_user(client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_a_manager_signs_in_through_the_provider_and_lands_on_today_as_a_manager(client, sso):
    response = sso_sign_in(client, sso, "mia")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:today")
    user = signed_in_user(client)
    assert user is not None
    assert roles.user_role(user) == roles.MANAGER
    assert user.is_staff
    assert not user.is_superuser
    assert (user.first_name, user.last_name, user.email) == ("Mia", "Chen", "mia@clinic.example")
    assert not user.has_usable_password()  # the provider is the only way in
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.issuer, "00u-mia")
    assert "Added at single sign-on: Manager" in LogEntry.objects.get(object_id=user.pk) \
        .change_message
    assert client.get(reverse("portal:reports")).status_code == 200


def test_the_authorization_request_carries_state_nonce_pkce_and_asks_for_the_password(
        client, sso):
    query = parse_qs(urlsplit(sso_start(client)).query)

    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver/accounts/sso/callback/"]
    assert query["scope"] == ["openid email profile"]
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["code_challenge_method"] == ["S256"]
    # Shared front-desk screens: the provider asks again instead of reusing its session.
    assert query["prompt"] == ["login"]


@pytest.mark.parametrize(("person", "role", "staff", "superuser"), [
    ("dana", roles.FRONT_DESK, False, False),
    ("mia", roles.MANAGER, True, False),
    ("ola", roles.ADMIN, True, True),
])
def test_each_mapped_group_gives_its_role(client, sso, person, role, staff, superuser):
    sso_sign_in(client, sso, person)
    user = signed_in_user(client)
    assert roles.user_role(user) == role
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert (user.is_staff, user.is_superuser) == (staff, superuser)


def test_the_highest_role_wins_when_several_groups_map(client, sso):
    sso.people["dana"].groups = ["waitlist-frontdesk", "waitlist-managers"]
    sso_sign_in(client, sso, "dana")
    assert roles.user_role(signed_in_user(client)) == roles.MANAGER


def test_several_claims_can_carry_roles_as_with_google_which_sends_no_groups(
        client, sso, settings):
    settings.OIDC_ROLE_CLAIM = "hd, email"
    settings.OIDC_ROLE_MAP = {"clinic.example": roles.FRONT_DESK,
                              "mia@clinic.example": roles.MANAGER}
    for person in sso.people.values():
        person.groups = []
    sso.id_token_changes = {"hd": "clinic.example"}

    sso_sign_in(client, sso, "mia")
    assert roles.user_role(signed_in_user(client)) == roles.MANAGER
    client.post(reverse("logout"))
    sso_sign_in(client, sso, "sam")
    assert roles.user_role(signed_in_user(client)) == roles.FRONT_DESK


def test_a_nested_claim_is_reached_by_its_dotted_name(client, sso, settings):
    settings.OIDC_ROLE_CLAIM = "realm_access.roles"  # as Keycloak sends them
    sso.id_token_changes = {"realm_access": {"roles": ["waitlist-managers"]}}
    sso_sign_in(client, sso, "sam")
    assert roles.user_role(signed_in_user(client)) == roles.MANAGER


def test_roles_follow_the_provider_at_every_sign_in(client, sso):
    sso_sign_in(client, sso, "mia")
    client.post(reverse("logout"))
    sso.people["mia"].groups = ["waitlist-frontdesk"]

    sso_sign_in(client, sso, "mia")

    user = signed_in_user(client)
    assert roles.user_role(user) == roles.FRONT_DESK
    assert not user.is_staff
    assert User.objects.count() == 1  # the same account, found by issuer and sub
    assert client.get(reverse("portal:reports")).status_code == 403
    messages = list(LogEntry.objects.filter(object_id=user.pk).values_list(
        "change_message", flat=True).order_by("id"))
    assert messages[-1].startswith("Role changed at single sign-on: Front desk")


def test_a_person_in_no_mapped_group_gets_a_clear_403_and_no_account(client, sso):
    response = sso_sign_in(client, sso, "sam")

    assert response.status_code == 403
    page = response.content.decode()
    assert "No access to the waitlist portal" in page
    assert "sam@clinic.example" in page
    assert "Sign out of Test IdP" in page  # the provider's sign-out is offered
    assert signed_in_user(client) is None
    assert not User.objects.exists()
    assert client.get(reverse("portal:today")).status_code == 302


def test_someone_taken_out_of_the_groups_keeps_no_rights_and_is_refused(client, sso):
    sso_sign_in(client, sso, "mia")
    client.post(reverse("logout"))
    sso.people["mia"].groups = ["everyone"]

    response = sso_sign_in(client, sso, "mia")

    assert response.status_code == 403
    assert signed_in_user(client) is None
    user = User.objects.get()
    assert roles.user_role(user) is None
    assert not user.is_staff
    assert not user.groups.exists()
    assert "All roles removed at sign-in" in LogEntry.objects.filter(
        object_id=user.pk).latest("id").change_message


def test_a_deactivated_account_cannot_come_back_through_the_provider(client, sso):
    sso_sign_in(client, sso, "dana")
    client.post(reverse("logout"))
    User.objects.filter(username="dana@clinic.example").update(is_active=False)

    response = sso_sign_in(client, sso, "dana")

    assert response.status_code == 403
    assert "This account is switched off" in response.content.decode()
    assert signed_in_user(client) is None


def test_deactivating_an_sso_user_ends_their_open_session(client, sso):
    sso_sign_in(client, sso, "dana")
    User.objects.filter(username="dana@clinic.example").update(is_active=False)
    assert client.get(reverse("portal:today")).status_code == 302


def test_a_manager_cannot_change_the_role_of_an_sso_account_on_the_staff_page(
        client, sso, manager_user):
    sso_sign_in(Client(), sso, "dana")
    dana = User.objects.get(username="dana@clinic.example")
    client.force_login(manager_user)

    response = client.post(reverse("portal:staff_set_role", args=[dana.pk]),
                           {"role": roles.MANAGER}, follow=True)

    assert "Their role comes from Test IdP" in response.content.decode()
    assert roles.user_role(dana) == roles.FRONT_DESK


def test_an_sso_account_never_takes_over_a_local_account_of_the_same_name(client, sso):
    local = User.objects.create_user(username="mia@clinic.example", password=STAFF_PASSWORD)
    sso_sign_in(client, sso, "mia")
    user = signed_in_user(client)
    assert user.pk != local.pk
    assert user.username == "mia@clinic.example-2"


@pytest.mark.parametrize(("change", "why"), [
    ({"tamper_signature": True}, "a signature that does not match"),
    ({"sign_with": "other key"}, "signed by a key the provider does not publish"),
    ({"id_token_changes": {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}},
     "expired ten minutes ago"),
    ({"id_token_changes": {"aud": "some-other-app"}}, "issued to another application"),
    ({"id_token_changes": {"aud": [CLIENT_ID, "other"], "azp": "other"}},
     "authorized for another party"),
    ({"id_token_changes": {"iss": "http://127.0.0.1:9/"}}, "from another issuer"),
    ({"id_token_changes": {"nonce": "not-the-nonce-we-sent"}}, "answering another request"),
    ({"id_token_changes": {"nonce": None}}, "without our nonce"),
    ({"id_token_changes": {"exp": None}}, "without an expiry"),
])
def test_an_id_token_that_fails_a_check_signs_nobody_in(client, sso, change, why, caplog):
    for name, value in change.items():
        setattr(sso, name, RSAKey.generate_key(2048, parameters={"kid": "test-key-1"})
                if value == "other key" else value)

    with caplog.at_level(logging.WARNING, logger="accounts"):
        response = sso_sign_in(client, sso, "mia")

    assert response.status_code == 403, why
    assert "Sign-in could not be checked" in response.content.decode()
    assert signed_in_user(client) is None
    assert not User.objects.exists()
    assert "SSO sign-in refused because of the ID token" in caplog.text


def test_a_callback_with_a_state_this_browser_never_sent_is_refused(client, sso):
    sso.sign_in_as = "mia"
    callback_url = at_provider(sso_start(client))
    forged = callback_url.replace("state=", "state=forged")

    response = callback(client, forged)

    assert response.status_code == 400
    assert "That sign-in link has expired" in response.content.decode()
    assert signed_in_user(client) is None
    assert sso.token_requests == []  # the code was never even traded


def test_a_callback_replayed_after_use_is_refused(client, sso):
    sso.sign_in_as = "mia"
    callback_url = at_provider(sso_start(client))
    assert callback(client, callback_url).status_code == 302
    client.post(reverse("logout"))

    response = callback(client, callback_url)

    assert response.status_code == 400
    assert signed_in_user(client) is None


def test_a_callback_carried_to_another_browser_is_refused(client, sso):
    """Login CSRF: someone's callback link pasted into a colleague's browser."""
    sso.sign_in_as = "mia"
    callback_url = at_provider(sso_start(client))
    other_browser = Client()

    response = callback(other_browser, callback_url)

    assert response.status_code == 400
    assert "_auth_user_id" not in other_browser.session


def test_the_provider_saying_no_is_explained(client, sso):
    sso_start(client)
    state = next(iter(client.session["oidc_states"]))
    response = client.get(reverse("accounts:sso_callback"),
                          {"error": "access_denied", "state": state})
    assert response.status_code == 403
    assert "answered \"access_denied\"" in response.content.decode()


def test_the_next_page_is_kept_across_the_provider(client, sso):
    response = sso_sign_in(client, sso, "dana", next_url="/waitlist/")
    assert response["Location"] == "/waitlist/"


def test_a_next_page_on_another_site_is_ignored(client, sso):
    response = sso_sign_in(client, sso, "dana", next_url="https://evil.example/")
    assert response["Location"] == reverse("portal:today")


def test_sign_out_ends_the_session_and_offers_the_providers_sign_out(client, sso):
    sso_sign_in(client, sso, "mia")
    id_token = client.session["oidc_id_token"]

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("accounts:signed_out")
    assert signed_in_user(client) is None
    page = client.get(reverse("accounts:signed_out")).content.decode()
    assert "You are signed out of the portal" in page
    link = page.split('class="button primary" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert link.startswith(f"{sso.issuer}/logout?")
    at_idp = requests.get(link, allow_redirects=False, timeout=10)
    assert at_idp.headers["Location"] == "http://testserver/accounts/login/"
    assert sso.end_session_requests[0]["id_token_hint"] == id_token
    assert sso.end_session_requests[0]["client_id"] == CLIENT_ID
    assert client.get(reverse("portal:today")).status_code == 302


def test_without_a_provider_sign_out_it_is_a_plain_sign_out(client, sso):
    sso.end_session = False
    sso_sign_in(client, sso, "mia")
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You are signed out." in response.content.decode()


def test_people_from_single_sign_on_are_not_asked_for_a_local_second_factor(client, sso):
    """Their provider does MFA; the admin lets them in on its word."""
    browser = Client()  # the plain client: nothing marks a second factor for us
    sso_sign_in(browser, sso, "mia")
    assert browser.get(reverse("admin:index")).status_code == 200
    page = browser.get(reverse("accounts:two_factor")).content.decode()
    assert "Your organisation's sign-in asks for the second factor" in page
    assert browser.get(reverse("accounts:two_factor_setup")).status_code == 302


def test_a_person_locked_out_after_wrong_passwords_cannot_get_in_through_sso(client, sso):
    sso_sign_in(client, sso, "dana")
    client.post(reverse("logout"))
    for _ in range(5):
        client.post(reverse("login"), {"username": "dana@clinic.example", "password": "wrong"})

    response = sso_sign_in(client, sso, "dana")

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert signed_in_user(client) is None


def test_failed_sso_callbacks_do_not_lock_colleagues_out_of_sso(client, sso):
    """They all come from the clinic's one address and carry no username."""
    sso.tamper_signature = True
    for _ in range(6):
        assert sso_sign_in(Client(), sso, "sam").status_code == 403
    sso.tamper_signature = False
    assert sso_sign_in(client, sso, "dana").status_code == 302


def test_idle_sign_out_applies_to_sso_users(client, sso, settings):
    sso_sign_in(client, sso, "dana")
    session = client.session
    session[LAST_ACTIVITY] = time.time() - settings.SESSION_IDLE_MINUTES * 60 - 5
    session.save()

    response = client.get(reverse("portal:today"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert signed_in_user(client) is None


def test_what_an_sso_user_does_is_audited_as_them(client, sso):
    sso_sign_in(client, sso, "dana")
    provider = ProviderFactory()
    start = timezone.localtime() + dt.timedelta(days=1)
    response = client.post(reverse("portal:slot_create"), {
        "provider": provider.pk, "date": start.date().isoformat(), "time": "10:00",
        "duration": 20})
    assert response.status_code == 302
    user = User.objects.get(username="dana@clinic.example")
    slot = Slot.objects.get()
    assert slot.recorded_by == user
    assert slot.history.earliest().history_user == user


def test_a_provider_that_does_not_answer_gets_a_clear_page(client, sso, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nothing listens
    response = client.get(reverse("accounts:sso_start"))
    assert response.status_code == 502
    assert "Test IdP is not answering" in response.content.decode()


def test_a_discovery_document_naming_another_issuer_is_not_trusted(client, sso, caplog):
    real = sso.discovery
    sso.discovery = lambda: {**real(), "issuer": "https://login.evil.example"}
    with caplog.at_level(logging.WARNING, logger="accounts"):
        response = client.get(reverse("accounts:sso_start"))
    assert response.status_code == 502
    assert "names the issuer 'https://login.evil.example'" in caplog.text


def test_discovery_is_asked_once_and_remembered(client, sso):
    sso_sign_in(client, sso, "dana")
    client.post(reverse("logout"))
    sso_sign_in(client, sso, "dana")
    assert sso.discovery_requests == 1


def test_explicit_endpoints_work_without_discovery(client, sso, settings):
    settings.OIDC_ENDPOINTS = {
        "authorization_endpoint": f"{sso.issuer}/authorize",
        "token_endpoint": f"{sso.issuer}/token", "jwks_uri": f"{sso.issuer}/jwks",
        "userinfo_endpoint": "", "end_session_endpoint": ""}

    assert sso_sign_in(client, sso, "mia").status_code == 302
    assert roles.user_role(signed_in_user(client)) == roles.MANAGER
    assert sso.discovery_requests == 0


def test_sso_pages_are_not_found_while_sso_is_off(client, settings):
    settings.SSO_ENABLED = False
    assert client.get(reverse("accounts:sso_start")).status_code == 404
    assert client.get(reverse("accounts:sso_callback"), {"code": "x", "state": "y"}) \
        .status_code == 404
    assert "Sign in with" not in client.get(reverse("login")).content.decode()


def test_the_login_page_offers_the_provider(client, sso):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Test IdP" in page
    assert 'name="password"' in page  # local sign-in stays on until switched off
