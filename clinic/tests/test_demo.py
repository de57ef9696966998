import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from clinic.demo import DEMO_PASSWORD
from clinic.models import Patient
from waitlist.models import WaitlistEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_prints_the_login(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert f"frontdesk / {DEMO_PASSWORD}" in out
    assert Patient.objects.count() == 12
    assert WaitlistEntry.objects.count() == 12


def test_demo_logins_work(rf):
    call_command("seed_demo")
    user = authenticate(rf.get("/"), username="frontdesk", password=DEMO_PASSWORD)
    assert user is not None
    assert user.has_perm("offers.add_slot")
    assert not user.has_perm("waitlist.prioritize_waitlistentry")
