"""`manage.py hl7_listen` as operators run it: a process of its own, stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from ehr.tests.hl7 import NPI, exchange, siu
from offers.models import Slot

pytestmark = pytest.mark.django_db(transaction=True)


def database_url_of_the_test_database() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_hl7_listen_serves_until_sigterm_and_stops_cleanly():
    ProviderFactory(identifier_value=NPI)
    AppointmentTypeFactory(code="follow-up")
    env = {**os.environ, "DATABASE_URL": database_url_of_the_test_database()}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listen", "--port", "0"], cwd=Path(settings.BASE_DIR), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        if not first_line:
            pytest.fail(process.communicate(timeout=20)[1])
        assert first_line.startswith("HL7 MLLP listener on 127.0.0.1:"), first_line
        port = int(first_line.rsplit(":", 1)[1])

        ack = exchange(port, siu("S15", control_id="CMD-1"))[0]

        assert ack.code == "AA"
        assert Slot.objects.count() == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    assert "HL7 MLLP listener stopped" in errors
