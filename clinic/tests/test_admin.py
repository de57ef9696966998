"""Every admin changelist and add page loads for an administrator."""

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from clinic.models import Patient
from messaging.models import Message
from portal.demo import seed_demo

pytestmark = pytest.mark.django_db

MODELS = [(m._meta.app_label, m._meta.model_name) for m in admin.site._registry]


@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_changelist_loads(client, admin_user, app_label, model_name):
    seed_demo()
    client.force_login(admin_user)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200


# Logs are evidence: nobody adds to them by hand.
READ_ONLY = {("messaging", "message"), ("messaging", "messagestatusevent"),
             ("messaging", "optedoutnumber"),
             ("axes", "accessattempt"), ("axes", "accessfailurelog"),
             ("axes", "accesslog"),
             ("offers", "offer"),  # offers are made only by the engine
             # clinic rules are edited on the portal's Rules page, whose form validates them
             ("offers", "offerrule"),
             ("ehr", "hl7message"), ("ehr", "smarttoken"),  # the HL7 feed and SMART grants
             ("waitlist", "checkin"),  # asked by beat, settled by the patients' replies
             ("accounts", "ssoidentity")}  # made by single sign-on itself


@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_add_page_loads_or_is_refused_for_read_only_logs(client, admin_user, app_label,
                                                          model_name):
    client.force_login(admin_user)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert response.status_code == (403 if (app_label, model_name) in READ_ONLY else 200)


def test_message_log_cannot_be_edited_or_deleted(client, admin_user):
    message = Message.objects.create(
        direction="out", from_number="+13125550100", to_number="+13125550142",
        body="hello", status="sent",
    )
    client.force_login(admin_user)
    change_url = reverse("admin:messaging_message_change", args=[message.pk])
    response = client.post(change_url, {"body": "tampered", "status": "delivered"})
    assert response.status_code == 403
    response = client.post(reverse("admin:messaging_message_delete", args=[message.pk]),
                           {"post": "yes"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.body == "hello"


def test_message_page_shows_its_status_history_from_the_recording_on(client, admin_user):
    message = Message.objects.create(
        direction="out", from_number="+13125550100", to_number="+13125550142",
        body="hello", status="delivered", attempts=1,
    )
    message.status_events.create(status="sending")
    message.status_events.create(status="delivered")
    client.force_login(admin_user)

    response = client.get(reverse("admin:messaging_message_change", args=[message.pk]))

    assert response.status_code == 200
    history = response.content.decode().split("Status history", 1)[1]
    cells = [s for s in ("queued", "sending", "delivered") if f"<td>{s}</td>" in history]
    assert cells == ["queued", "sending", "delivered"]
    assert history.index("<td>queued</td>") < history.index("<td>sending</td>") < \
        history.index("<td>delivered</td>")


def test_admin_is_closed_to_front_desk_staff(client, front_desk_user):
    client.force_login(front_desk_user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def patient_add_form(**fields):
    return {"first_name": "Ana", "last_name": "Ruiz", "phone": "+1 312 555 0142",
            "preferred_language": "es", "sms_opted_out_at_0": "", "sms_opted_out_at_1": "",
            "phone_invalid_at_0": "", "phone_invalid_at_1": "", "phone_wrong_at_0": "",
            "phone_wrong_at_1": "", **fields}


@pytest.mark.parametrize("typed", ["+1 312 555 0142", "(312) 555-0142", "312.555.0142"])
def test_adding_a_patient_in_the_admin_stores_the_phone_in_e164(client, admin_user, typed):
    client.force_login(admin_user)
    response = client.post(reverse("admin:clinic_patient_add"), patient_add_form(phone=typed))
    assert response.status_code == 302
    assert list(Patient.objects.values_list("phone", flat=True)) == ["+13125550142"]


def test_a_patient_with_an_invalid_phone_is_refused_with_a_form_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:clinic_patient_add"),
                           patient_add_form(phone="(312) 555-01"))
    assert response.status_code == 200
    assert "is not a valid phone number" in response.context["adminform"].form.errors["phone"][0]
    assert not Patient.objects.exists()


def test_a_spaced_number_of_a_known_patient_is_refused_as_a_duplicate(client, admin_user):
    Patient.objects.create(first_name="Ana", phone="+13125550142")
    client.force_login(admin_user)
    response = client.post(reverse("admin:clinic_patient_add"),
                           patient_add_form(phone="+1 312 555 0142"))
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert Patient.objects.count() == 1


def test_staff_cannot_clear_a_patients_stop_in_the_admin(client, admin_user):
    from clinic.tests.factories import PatientFactory

    patient = PatientFactory(sms_opted_out_at=timezone.now())
    client.force_login(admin_user)
    url = reverse("admin:clinic_patient_change", args=[patient.pk])

    assert "sms_opted_out_at" not in client.get(url).context["adminform"].form.fields
    client.post(url, {"first_name": patient.first_name, "last_name": patient.last_name,
                      "phone": patient.phone, "preferred_language": "en",
                      "sms_opted_out_at_0": "", "sms_opted_out_at_1": ""})

    patient.refresh_from_db()
    # Only the patient's own START/UNSTOP clears it.
    assert patient.sms_opted_out_at is not None


def _when(moment):
    local = timezone.localtime(moment)
    return {"phone_wrong_at_0": local.strftime("%Y-%m-%d"),
            "phone_wrong_at_1": local.strftime("%H:%M:%S")}


def test_correcting_a_wrong_number_in_the_admin_lets_texts_go_to_the_new_one(client,
                                                                           admin_user):
    reported = timezone.now()
    patient = Patient.objects.create(first_name="Ana", phone="+13125550142",
                                     phone_wrong_at=reported)
    client.force_login(admin_user)
    change = reverse("admin:clinic_patient_change", args=[patient.pk])

    # Saving without touching the phone keeps the flag.
    response = client.post(change, patient_add_form(phone="+13125550142", **_when(reported)))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone_wrong_at is not None

    response = client.post(change, patient_add_form(phone="(312) 555-0199", **_when(reported)))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+13125550199"
    assert patient.phone_wrong_at is None
    assert patient.can_receive_sms
