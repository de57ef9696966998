import pytest
from django.urls import reverse

from clinic.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

STAFF_PAGES = ["portal:today", "waitlist:list", "waitlist:add", "portal:simulator"]


@pytest.mark.parametrize("name", STAFF_PAGES + ["portal:reports", "portal:staff"])
def test_signed_out_visitors_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", STAFF_PAGES + ["portal:reports", "portal:staff"])
def test_a_user_without_a_role_gets_a_clear_403(client, outsider_user, name):
    client.force_login(outsider_user)
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert b"open this page" in response.content


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_front_desk_reaches_the_daily_pages(client, front_desk_user, name):
    client.force_login(front_desk_user)
    assert client.get(reverse(name)).status_code == 200


def test_front_desk_cannot_open_reports_and_the_menu_hides_them(client, front_desk_user):
    client.force_login(front_desk_user)
    assert client.get(reverse("portal:reports")).status_code == 403
    today = client.get(reverse("portal:today")).content.decode()
    assert reverse("portal:reports") not in today
    assert reverse("waitlist:list") in today


def test_manager_sees_reports(client, manager_user):
    client.force_login(manager_user)
    assert client.get(reverse("portal:reports")).status_code == 200


def test_outsider_cannot_post_slot_actions(client, outsider_user, provider):
    client.force_login(outsider_user)
    response = client.post(reverse("portal:slot_create"), {"provider": provider.pk})
    assert response.status_code == 403


def test_patient_page_needs_the_view_patient_permission(client, outsider_user,
                                                        front_desk_user):
    patient = PatientFactory()
    url = reverse("portal:patient", args=[patient.pk])
    client.force_login(outsider_user)
    assert client.get(url).status_code == 403
    client.force_login(front_desk_user)
    assert client.get(url).status_code == 200


def test_simulator_does_not_exist_with_the_twilio_backend(client, front_desk_user, settings):
    settings.SMS_BACKEND = "twilio"
    client.force_login(front_desk_user)
    assert client.get(reverse("portal:simulator")).status_code == 404
    assert reverse("portal:simulator") not in client.get(reverse("portal:today")).content.decode()


def test_unknown_pages_get_the_friendly_404(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
