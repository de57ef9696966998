"""SMART Backend Services end to end: register, sign, get a token, call the FHIR API; and
every way an assertion or a token is refused, with the error the specs name."""

import datetime as dt
import http.server
import json
import threading

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from joserfc.jwk import RSAKey

from clinic.tests.factories import ProviderFactory
from ehr.models import SmartClient, SmartToken
from ehr.tests.payloads import NPI, URL, cancelled_appointment, database_state
from ehr.tests.smart_client import (
    assertion,
    key_pair,
    public_jwks,
    token_request,
    write_jwks,
)
from offers.models import Offer, Slot
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db

WRITE = "system/Appointment.write"
READ = "system/Appointment.read"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def register(tmp_path, capsys, *keys, scope=f"{READ} {WRITE}", name="Epic backend"):
    """`manage.py create_smart_client` as the README shows it; returns the client_id."""
    call_command("create_smart_client", name, "--jwks", write_jwks(tmp_path / "jwks.json", *keys),
                 "--scope", scope)
    return capsys.readouterr().out.strip().splitlines()[-1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def get_token(client, client_id, key, scope=WRITE) -> str:
    response = token_request(client, assertion(client_id, key), scope)
    assert response.status_code == 200, response.json()
    return response.json()["access_token"]


def test_discovery_names_the_token_endpoint(client, settings):
    settings.PUBLIC_BASE_URL = "https://waitlist.example-clinic.org"

    response = client.get("/api/fhir/.well-known/smart-configuration")

    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == "https://waitlist.example-clinic.org/api/fhir/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in config["capabilities"]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_a_client_signs_gets_a_token_and_posts_a_cancellation(
        client, tmp_path, capsys, alg, django_capture_on_commit_callbacks):
    key = key_pair(alg)
    client_id = register(tmp_path, capsys, key)
    ProviderFactory(identifier_system=NPI, identifier_value="1234567893")
    for _ in range(4):
        WaitlistEntryFactory()

    response = token_request(client, assertion(client_id, key), f"{WRITE} {READ}")
    assert response.status_code == 200, response.json()
    assert response["Cache-Control"] == "no-store"
    grant = response.json()
    assert (grant["token_type"], grant["expires_in"], grant["scope"]) == (
        "bearer", 300, f"{WRITE} {READ}")

    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(URL, cancelled_appointment(), content_type="application/fhir+json",
                             headers=bearer(grant["access_token"]))
    assert posted.status_code == 201
    slot = Slot.objects.get()
    assert Offer.objects.filter(slot=slot, status=Offer.Status.SENT).count() == 3
    assert slot.history.earliest().history_change_reason.startswith(
        "[SMART client: Epic backend] Cancellation recorded")
    read = client.get(f"{URL}/slot-{slot.pk}", headers=bearer(grant["access_token"]))
    assert read.status_code == 200
    # The grant is audited: who, what, when, until when, from where, last use.
    issued = SmartToken.objects.get()
    assert issued.client.client_id == client_id
    assert issued.scopes == f"{WRITE} {READ}"
    assert issued.expires_at - issued.issued_at == dt.timedelta(seconds=300)
    assert issued.peer == "127.0.0.1"
    assert issued.last_used_at is not None
    assert grant["access_token"] not in str(list(SmartToken.objects.values()))


def _refusal(response, error: str, status: int):
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("how", "error", "status"), [
    ("expired", "invalid_client", 401),
    ("exp more than five minutes ahead", "invalid_client", 401),
    ("no exp", "invalid_client", 401),
    ("wrongly signed", "invalid_client", 401),
    ("signed with an unregistered kid", "invalid_client", 401),
    ("wrong audience", "invalid_client", 401),
    ("sub is not the client", "invalid_client", 401),
    ("made-up client", "invalid_client", 401),
    ("no jti", "invalid_client", 401),
    ("RS256", "invalid_client", 401),
    ("not a JWT", "invalid_client", 401),
    ("scope the client was not given", "invalid_scope", 400),
    ("scope of another resource", "invalid_scope", 400),
    ("no scope", "invalid_scope", 400),
    ("grant type", "unsupported_grant_type", 400),
    ("assertion type", "invalid_request", 400),
    ("client_id beside it is another", "invalid_client", 401),
])
def test_a_bad_token_request_is_refused_with_the_error_the_spec_names(
        client, tmp_path, capsys, how, error, status):
    key = key_pair()
    client_id = register(tmp_path, capsys, key, scope=READ)
    other_key = key_pair(kid="key-1")  # same kid, not the registered key
    scope, extra = READ, {}
    signed = {
        "expired": lambda: assertion(client_id, key, exp_in=-120),
        "exp more than five minutes ahead": lambda: assertion(client_id, key, exp_in=900),
        "no exp": lambda: assertion(client_id, key, exp=None),
        "wrongly signed": lambda: assertion(client_id, other_key),
        "signed with an unregistered kid": lambda: assertion(client_id, key_pair(kid="k9")),
        "wrong audience": lambda: assertion(client_id, key, aud="https://elsewhere.example/token"),
        "sub is not the client": lambda: assertion(client_id, key, sub="someone-else"),
        "made-up client": lambda: assertion("not-a-client", key),
        "no jti": lambda: assertion(client_id, key, jti=""),
        "RS256": lambda: assertion(client_id, RSAKey.generate_key(2048, {"kid": "key-1"},
                                                                  private=True), alg="RS256"),
        "not a JWT": lambda: "eyJhbGciOiJSUzM4NCJ9.e30.c2ln",
    }.get(how, lambda: assertion(client_id, key))()
    if how == "scope the client was not given":
        scope = WRITE
    elif how == "scope of another resource":
        scope = "system/Patient.read"
    elif how == "no scope":
        scope = ""
    elif how == "grant type":
        extra = {"grant_type": "authorization_code"}
    elif how == "client_id beside it is another":
        extra = {"client_id": "someone-else"}
    elif how == "assertion type":
        extra = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}
    before = database_state()

    response = token_request(client, signed, scope, **extra)

    _refusal(response, error, status)
    assert not SmartToken.objects.exists()
    assert database_state() == before


def test_a_replayed_assertion_is_refused(client, tmp_path, capsys):
    key = key_pair()
    client_id = register(tmp_path, capsys, key)
    signed = assertion(client_id, key)

    first = token_request(client, signed)
    replay = token_request(client, signed)

    assert first.status_code == 200
    _refusal(replay, "invalid_client", 401)
    assert "jti" in replay.json()["error_description"]
    assert SmartToken.objects.count() == 1


def test_a_revoked_client_gets_no_token_and_its_tokens_stop(client, tmp_path, capsys):
    key = key_pair()
    client_id = register(tmp_path, capsys, key)
    token = get_token(client, client_id, key, READ)
    SmartClient.objects.update(revoked_at=timezone.now())

    _refusal(token_request(client, assertion(client_id, key)), "invalid_client", 401)
    assert client.get(URL, {"status": "booked"}, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(("scope", "allowed", "refused"), [
    (READ, ["search", "read"], ["create"]),
    (WRITE, ["create"], ["search", "read"]),
    ("system/Appointment.rs", ["search", "read"], ["create"]),
    ("system/Appointment.cud", ["create"], ["search", "read"]),
    ("system/Appointment.r", ["read"], ["search", "create"]),
])
def test_scopes_are_enforced_per_endpoint(client, tmp_path, capsys, scope, allowed, refused):
    key = key_pair()
    client_id = register(tmp_path, capsys, key, scope="system/Appointment.*")
    token = get_token(client, client_id, key, scope)
    ProviderFactory(identifier_system=NPI, identifier_value="1234567893")
    calls = {
        "search": lambda: client.get(URL, {"status": "booked"}, headers=bearer(token)),
        "read": lambda: client.get(f"{URL}/slot-999", headers=bearer(token)),
        "create": lambda: client.post(URL, cancelled_appointment(),
                                      content_type="application/fhir+json",
                                      headers=bearer(token)),
    }

    for name in allowed:
        assert calls[name]().status_code in (200, 201, 404), name  # 404: no slot-999
    before = database_state()
    for name in refused:
        response = calls[name]()
        assert response.status_code == 403, name
        assert response.json()["issue"][0]["code"] == "forbidden"
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert database_state() == before


@pytest.mark.parametrize("token", ["sft_made-up", "sft_", "sft_" + "x" * 300])
def test_a_made_up_token_gets_401(client, token):
    response = client.get(URL, {"status": "booked"}, headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["issue"][0]["code"] == "login"


def test_an_expired_token_gets_401_saying_so(client, tmp_path, capsys):
    key = key_pair()
    client_id = register(tmp_path, capsys, key)
    token = get_token(client, client_id, key, READ)
    SmartToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = client.get(URL, {"status": "booked"}, headers=bearer(token))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert "expired" in response.json()["issue"][0]["diagnostics"]


def test_api_keys_keep_working_beside_smart(client, key):
    response = client.get(URL, {"status": "booked"}, headers=bearer(key))

    assert response.status_code == 200


def test_the_token_endpoint_takes_only_a_form_post(client):
    assert client.get("/api/fhir/auth/token").status_code == 405
    response = client.post("/api/fhir/auth/token", {"grant_type": "client_credentials"},
                           content_type="application/json")
    _refusal(response, "invalid_request", 400)


# --- a client that publishes its keys at a URL ---------------------------------------

class JwksServer:
    """The client's own JWKS endpoint, on this machine (port 0)."""

    def __init__(self, jwks: dict):
        self.jwks, self.hits = jwks, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_jwks_url_is_fetched_cached_and_fetched_again_for_a_new_key(client):
    first, rotated = key_pair(kid="2026-a"), key_pair("ES384", kid="2027-a")
    with JwksServer(public_jwks(first)) as site:
        # Registered directly: the admin and the command insist on https://.
        smart_client = SmartClient.objects.create(name="Vendor", jwks_url=site.url, scopes=WRITE)

        for _ in range(3):
            get_token(client, smart_client.client_id, first)
        assert site.hits == 1

        site.jwks = public_jwks(first, rotated)
        get_token(client, smart_client.client_id, rotated)
        assert site.hits == 2


def test_an_unreachable_jwks_url_is_invalid_client(client):
    smart_client = SmartClient.objects.create(name="Gone", jwks_url="http://127.0.0.1:9/jwks",
                                              scopes=WRITE)

    response = token_request(client, assertion(smart_client.client_id, key_pair()))

    _refusal(response, "invalid_client", 401)
    assert "could not be fetched" in response.json()["error_description"]


# --- registering clients ---------------------------------------------------------------

def test_create_smart_client_prints_the_client_id_last(tmp_path, capsys):
    client_id = register(tmp_path, capsys, key_pair(), key_pair("ES384", kid="ec"),
                         scope=f"{WRITE} {WRITE}")

    registered = SmartClient.objects.get(client_id=client_id)
    assert registered.scopes == WRITE
    assert [key["kid"] for key in registered.jwks["keys"]] == ["key-1", "ec"]


@pytest.mark.parametrize(("jwks", "scope", "words"), [
    ({"keys": []}, WRITE, "at least one key"),
    ("private", WRITE, "private key"),
    ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}, WRITE, "RSA or EC"),
    ("public", "patient/*.read", "not a scope"),
    ("not json", WRITE, "--jwks"),
])
def test_create_smart_client_refuses_what_cannot_work(tmp_path, jwks, scope, words):
    key = key_pair()
    path = tmp_path / "jwks.json"
    if jwks == "private":
        jwks = {"keys": [key.as_dict(private=True)]}
    elif jwks == "public":
        jwks = public_jwks(key)
    path.write_text("{nope" if jwks == "not json" else json.dumps(jwks))

    with pytest.raises(CommandError, match=words):
        call_command("create_smart_client", "X", "--jwks", str(path), "--scope", scope)
    assert not SmartClient.objects.exists()


def test_the_admin_registers_and_revokes_clients(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:ehr_smartclient_add"), {
        "name": "Cerner", "jwks": json.dumps(public_jwks(key_pair())), "jwks_url": "",
        "scopes": READ, "revoked_at_0": "", "revoked_at_1": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    registered = SmartClient.objects.get(name="Cerner")
    assert registered.client_id

    refused = client.post(reverse("admin:ehr_smartclient_add"), {
        "name": "Bad", "jwks": json.dumps({"keys": [key_pair().as_dict(private=True)]}),
        "jwks_url": "", "scopes": READ, "revoked_at_0": "", "revoked_at_1": ""})
    assert "private key" in refused.content.decode()

    client.post(reverse("admin:ehr_smartclient_changelist"),
                {"action": "revoke_clients", "_selected_action": [registered.pk]})
    registered.refresh_from_db()
    assert registered.revoked_at is not None
    assert client.get(reverse("admin:ehr_smarttoken_changelist")).status_code == 200
