import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from clinic.models import Patient
from portal.demo import DEMO_PASSWORD
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def development(settings):
    settings.DEBUG = True  # `make run` reads DEBUG=true from .env


def test_seed_demo_is_idempotent_and_prints_the_login(capsys, development):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert f"frontdesk / {DEMO_PASSWORD}" in out
    assert Patient.objects.count() == 12
    assert WaitlistEntry.objects.count() == 12


def test_a_second_seed_says_passwords_are_unchanged_instead_of_printing_them(
        capsys, development):
    call_command("seed_demo")
    capsys.readouterr()
    get_user_model().objects.filter(username="manager").delete()

    call_command("seed_demo")

    out = capsys.readouterr().out
    assert f"manager / {DEMO_PASSWORD}" in out  # created again just now
    assert "frontdesk / (password unchanged)" in out
    assert "admin / (password unchanged)" in out
    assert out.count(DEMO_PASSWORD) == 1


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off.*--force"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()
    assert not Patient.objects.exists()


def test_seed_demo_runs_with_debug_off_when_forced(settings, capsys):
    settings.DEBUG = False
    call_command("seed_demo", "--force")
    assert f"frontdesk / {DEMO_PASSWORD}" in capsys.readouterr().out


def test_demo_logins_work(rf, development):
    call_command("seed_demo")
    user = authenticate(rf.get("/"), username="frontdesk", password=DEMO_PASSWORD)
    assert user is not None
    assert user.has_perm("offers.add_slot")
    assert not user.has_perm("waitlist.prioritize_waitlistentry")


def test_the_demo_patients_appointments_fall_in_clinic_hours_on_weekdays(development):
    from django.utils import timezone

    call_command("seed_demo")
    for entry in WaitlistEntry.objects.all():
        for moment in (entry.current_appointment_at, entry.added_at):
            local = timezone.localtime(moment)
            assert local.weekday() < 5, local
            assert 8 <= local.hour < 17, local
            assert local.minute % 20 == 0, local
        assert entry.added_at < timezone.now() < entry.current_appointment_at
    hours = {timezone.localtime(e.current_appointment_at).time()
             for e in WaitlistEntry.objects.all()}
    assert len(hours) > 6  # spread over the day, not one time for all


def test_a_twenty_minute_demo_slot_of_any_provider_has_more_patients_than_one_batch(
        development, settings):
    """The README's tour records a 20-minute slot and expects three offers."""
    import datetime as dt

    from django.utils import timezone

    from clinic.models import Provider
    from offers.models import Slot
    from offers.selectors import slot_candidates

    call_command("seed_demo")
    start = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=10, minute=0)
    for provider in Provider.objects.all():
        slot = Slot(provider=provider, location=provider.location, start=start,
                    end=start + dt.timedelta(minutes=20))
        assert len(slot_candidates(slot=slot)) > settings.OFFER_BATCH_SIZE, provider


def test_the_demo_manager_and_admin_have_an_authenticator_whose_key_is_printed(
        capsys, development):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal.demo import demo_totp_secret

    call_command("seed_demo")
    out = capsys.readouterr().out
    assert f"manager / {DEMO_PASSWORD}  + two-factor code" in out
    assert f"admin / {DEMO_PASSWORD}  + two-factor code" in out
    assert f"frontdesk / {DEMO_PASSWORD}\n" in out  # front desk: a password alone
    assert demo_totp_secret() in out
    assert set(TOTPDevice.objects.values_list("user__username", flat=True)) == {"manager",
                                                                                "admin"}


def test_demo_code_prints_a_code_that_signs_the_demo_manager_in(capsys, development, client):
    call_command("seed_demo")
    capsys.readouterr()
    call_command("demo_code", "manager")
    code = capsys.readouterr().out.split()[1]

    client.post("/accounts/login/", {"username": "manager", "password": DEMO_PASSWORD})
    response = client.post("/accounts/two-factor/verify/", {"code": code})

    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_demo_code_refuses_with_debug_off(settings, development):
    call_command("seed_demo")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("demo_code", "manager")
