"""The README's HL7 and SMART examples, run as written: mllp_send against a real listener,
the key and client scripts against a live server."""

import datetime as dt
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from ehr.hl7v2.mllp import ListenerThread
from ehr.models import Hl7Message, SmartToken
from offers.models import Slot
from portal.demo import seed_demo

BASE_DIR = Path(django_settings.BASE_DIR)
README = (BASE_DIR / "README.md").read_text()
SECTION = README.split("### Interface engines (HL7 v2) and SMART clients", 1)[1].split(
    "\n## ", 1)[0]
COMMANDS = [line for line in re.search(r"```sh\n(.*?)```", SECTION, re.DOTALL).group(1)
            .splitlines() if line and not line.startswith("#")]
EXAMPLE = BASE_DIR / "docs" / "examples" / "siu_s15.hl7"
BIN = Path(sys.executable).parent


def command_line(starting: str) -> str:
    return next(line for line in COMMANDS if starting in line)


def command(starting: str) -> list[str]:
    line = command_line(starting)
    # The README runs from the checkout with its .venv; here, this interpreter's.
    return [str(BASE_DIR / part) if part.startswith("docs/") else
            part.replace(".venv/bin/", f"{BIN}/") for part in shlex.split(line)]


def run(args: list[str], **options) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False,
                          **options)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_docs_hl7_shows_the_example_file_as_it_is():
    shown = re.search(r"```\n(MSH\|.*?)```", (BASE_DIR / "docs" / "hl7.md").read_text(),
                      re.DOTALL).group(1)

    assert shown == EXAMPLE.read_text()


@pytest.mark.django_db(transaction=True)
def test_the_readme_mllp_send_example_opens_a_slot_for_the_demo_clinic(tmp_path):
    """Its two lines as written, in bash, in a copy of the checkout's layout: the example
    moved to three days from today, then sent with mllp_send."""
    seed_demo()
    (tmp_path / "docs" / "examples").mkdir(parents=True)
    (tmp_path / "docs" / "examples" / "siu_s15.hl7").write_text(EXAMPLE.read_text())
    (tmp_path / "var").mkdir()
    moved = next(line for line in COMMANDS if line.startswith("sed "))
    run(["bash", "-c", moved.replace(".venv/bin/", f"{BIN}/")], cwd=tmp_path)
    listener = ListenerThread()
    port = listener.start()
    try:
        args = [part.replace(".venv/bin/", f"{BIN}/")
                for part in shlex.split(command_line("mllp_send"))]
        args[args.index("2575")] = str(port)

        output = run(args, cwd=tmp_path)
    finally:
        listener.stop()

    assert "MSA|AA|MSG000123" in output
    slot = Slot.objects.get()
    assert (slot.provider.name, slot.location.name, slot.appointment_type.code) == (
        "Dr. Maya Patel", "Main Street clinic", "follow-up")
    assert timezone.localtime(slot.start).date() == (
        timezone.localdate() + dt.timedelta(days=3))
    assert Hl7Message.objects.get().ack_code == "AA"


@pytest.mark.django_db(transaction=True)
def test_the_readme_smart_example_registers_signs_and_calls_the_api(
        live_server, tmp_path, settings, capsys, monkeypatch):
    settings.PUBLIC_BASE_URL = live_server.url

    run(command("smart_keys.py"), cwd=tmp_path)
    register = command("create_smart_client")
    monkeypatch.chdir(tmp_path)
    call_command(*register[register.index("manage.py") + 1:])
    client_id = capsys.readouterr().out.strip().splitlines()[-1]
    env = {**os.environ, "SMART_CLIENT_ID": client_id,
           "FHIR_BASE": f"{live_server.url}/api/fhir"}
    client_line = command("smart_client.py")
    output = run([part for part in client_line if "=" not in part], cwd=tmp_path, env=env)

    assert output.strip() == "booked slots: 0"
    token = SmartToken.objects.get()
    assert (token.client.name, token.scopes) == ("Epic backend", "system/Appointment.read")
    assert token.last_used_at is not None
