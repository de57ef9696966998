import time

import pytest
from django.urls import reverse

from portal.middleware import SESSION_KEY

pytestmark = pytest.mark.django_db


def _age_session(client, seconds):
    session = client.session
    session[SESSION_KEY] = time.time() - seconds
    session.save()


def test_staff_are_signed_out_after_the_idle_minutes(client, front_desk_user, settings):
    settings.SESSION_IDLE_MINUTES = 15
    client.force_login(front_desk_user)
    client.get(reverse("portal:today"))
    _age_session(client, 16 * 60)
    response = client.get(reverse("waitlist:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_recent_activity_keeps_staff_signed_in(client, front_desk_user, settings):
    settings.SESSION_IDLE_MINUTES = 15
    client.force_login(front_desk_user)
    client.get(reverse("portal:today"))
    _age_session(client, 14 * 60)
    assert client.get(reverse("waitlist:list")).status_code == 200
    # ...and that request restarted the idle clock.
    assert time.time() - client.session[SESSION_KEY] < 5


def test_live_polling_does_not_count_as_activity(client, front_desk_user, settings):
    settings.SESSION_IDLE_MINUTES = 15
    client.force_login(front_desk_user)
    client.get(reverse("portal:today"))
    _age_session(client, 10 * 60)
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "slots", "HTTP_X_PORTAL_POLL": "1"}
    assert client.get(reverse("portal:today"), **poll).status_code == 200
    assert time.time() - client.session[SESSION_KEY] > 9 * 60
    _age_session(client, 16 * 60)
    # The page's next poll sends the whole browser to the login page, not a fragment.
    response = client.get(reverse("portal:today"), **poll)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_signed_in_pages_tell_the_browser_timer_the_idle_minutes(client, front_desk_user,
                                                                 settings):
    settings.SESSION_IDLE_MINUTES = 15
    client.force_login(front_desk_user)
    page = client.get(reverse("waitlist:list")).content.decode()
    assert 'data-idle-minutes="15"' in page
    assert f'data-idle-action="{reverse("portal:idle_sign_out")}"' in page
    client.logout()
    assert "data-idle-minutes" not in client.get(reverse("login")).content.decode()


def test_the_browser_timer_signs_out_and_says_why_on_the_login_page(client, front_desk_user,
                                                                    settings):
    settings.SESSION_IDLE_MINUTES = 15
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:idle_sign_out"), {"next": "/waitlist/?q=ana"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=/waitlist/%3Fq%3Dana" in response["Location"]
    assert "_auth_user_id" not in client.session
    login = client.get(response["Location"]).content.decode()
    assert "signed out after 15 idle minutes" in login


def test_the_idle_sign_out_never_sends_people_to_another_site(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.post(reverse("portal:idle_sign_out"),
                           {"next": "https://evil.example/"})
    assert "evil.example" not in response["Location"]
    assert response["Location"].startswith(reverse("login"))


def test_the_idle_sign_out_is_post_only(client, front_desk_user):
    client.force_login(front_desk_user)
    assert client.get(reverse("portal:idle_sign_out")).status_code == 405
    assert "_auth_user_id" in client.session
