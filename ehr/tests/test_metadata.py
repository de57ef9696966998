"""GET /api/fhir/metadata tells the truth: what it lists works, what it leaves out does not."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from clinic.tests.factories import ProviderFactory
from ehr.tests.payloads import NPI, URL, cancelled_appointment, post

pytestmark = pytest.mark.django_db

SECURITY = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def test_the_capability_statement_is_public_valid_fhir_and_points_at_the_token_endpoint(client):
    response = client.get("/api/fhir/metadata")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    security = response.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = next(e for e in security["extension"] if e["url"] == SECURITY)["extension"]
    discovered = client.get("/api/fhir/.well-known/smart-configuration").json()
    assert {"url": "token", "valueUri": discovered["token_endpoint"]} in uris


def test_every_interaction_it_lists_works_and_the_others_are_refused(client, key):
    ProviderFactory(identifier_system=NPI, identifier_value="1234567893")
    rest = client.get("/api/fhir/metadata").json()["rest"][0]
    assert [r["type"] for r in rest["resource"]] == ["Appointment"]
    listed = {i["code"] for i in rest["resource"][0]["interaction"]}
    assert listed == {"read", "search-type", "create"}
    auth = {"Authorization": f"Bearer {key}"}

    created = post(client, key, cancelled_appointment())
    assert created.status_code == 201
    resource_url = f"{URL}/{created.json()['id']}"
    assert client.get(resource_url, headers=auth).status_code == 200
    assert client.get(URL, {"status": "booked"}, headers=auth).status_code == 200
    # Not listed: update, patch, delete, history, other resource types.
    assert client.put(resource_url, {}, headers=auth).status_code == 405
    assert client.patch(resource_url, {}, headers=auth).status_code == 405
    assert client.delete(resource_url, headers=auth).status_code == 405
    assert client.get(f"{resource_url}/_history", headers=auth).status_code == 404
    assert client.get("/api/fhir/Patient", headers=auth).status_code == 404


def test_metadata_is_read_only(client):
    response = client.post("/api/fhir/metadata", {})

    assert response.status_code == 405
    assert response["Allow"] == "GET"
