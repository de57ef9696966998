import pytest
from django.core.management import call_command
from django.urls import reverse

from ehr.models import ApiKey, key_hash
from ehr.tests.payloads import URL, database_state, get, post, waitlist_appointment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer sfk_wrong", "Token sfk_x",
    "Bearer " + "x" * 5000,
])
def test_every_endpoint_refuses_a_missing_or_wrong_key(client, api_key, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = database_state()
    responses = [
        client.post(URL, waitlist_appointment(), content_type="application/fhir+json",
                    headers=headers),
        client.get(URL, {"status": "booked"}, headers=headers),
        client.get(f"{URL}/waitlist-1", headers=headers),
        client.delete(URL, headers=headers),
        client.get("/api/fhir/Patient", headers=headers),
    ]
    for response in responses:
        assert response.status_code == 401
        assert response["Content-Type"] == "application/fhir+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["issue"][0]["code"] == "login"
    assert database_state() == before


def test_a_revoked_key_is_refused(client, api_key):
    row, key = api_key
    row.revoke()

    response = post(client, key, waitlist_appointment())

    assert response.status_code == 401


def test_a_used_key_records_when(client, api_key):
    row, key = api_key
    assert row.last_used_at is None

    get(client, key, URL, status="booked")

    row.refresh_from_db()
    assert row.last_used_at is not None


def test_create_api_key_prints_the_key_last_and_stores_only_its_hash(capsys):
    call_command("create_api_key", "Epic production")

    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    row = ApiKey.objects.get(name="Epic production")
    assert row.hashed_key == key_hash(raw_key)
    assert raw_key not in str(list(ApiKey.objects.values()))
    assert ApiKey.authenticate(raw_key) == row


def test_the_admin_lists_keys_with_last_use_and_revokes_them(client, admin_user, api_key):
    row, _ = api_key
    client.force_login(admin_user)

    listing = client.get(reverse("admin:ehr_apikey_changelist"))
    assert "Epic test" in listing.content.decode()
    assert "last used" in listing.content.decode().lower()

    client.post(reverse("admin:ehr_apikey_changelist"),
                {"action": "revoke_keys", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_the_admin_shows_a_new_key_once(client, admin_user):
    client.force_login(admin_user)

    response = client.post(reverse("admin:ehr_apikey_add"), {"name": "Cerner"}, follow=True)

    row = ApiKey.objects.get(name="Cerner")
    shown = [m.message for m in response.context["messages"]]
    raw_key = shown[0].rsplit(" ", 1)[-1]
    assert ApiKey.authenticate(raw_key) == row


@pytest.mark.parametrize("revoked", [False, True])
def test_a_refused_request_does_not_touch_any_keys_last_use(client, api_key, revoked):
    row, key = api_key
    if revoked:
        row.revoke()
    sent = key if revoked else key[:-2] + "xx"

    response = get(client, sent, URL, status="booked")

    assert response.status_code == 401
    row.refresh_from_db()
    assert row.last_used_at is None


def test_a_revoked_key_cannot_be_unrevoked_by_editing_it_in_the_admin(client, admin_user,
                                                                      api_key):
    row, key = api_key
    row.revoke()
    client.force_login(admin_user)
    url = reverse("admin:ehr_apikey_change", args=[row.pk])

    assert "revoked_at" not in client.get(url).context["adminform"].form.fields
    client.post(url, {"name": row.name, "revoked_at_0": "", "revoked_at_1": ""})

    row.refresh_from_db()
    assert row.revoked_at is not None
    assert ApiKey.authenticate(key) is None
