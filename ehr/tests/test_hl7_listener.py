"""The MLLP listener over real sockets: a listener in this process on an ephemeral port,
clients that connect and talk as an interface engine does."""

import datetime as dt
import ipaddress
import socket
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from clinic.tests.factories import AppointmentTypeFactory, ProviderFactory
from ehr.hl7v2 import mllp
from ehr.hl7v2.messages import MAX_MESSAGE_BYTES
from ehr.hl7v2.mllp import ListenerThread
from ehr.models import Hl7Message
from ehr.tests.hl7 import (
    EB,
    NPI,
    SB,
    MllpClient,
    business_state,
    exchange,
    future_start,
    kept_messages,
    msh,
    siu,
)
from offers.models import Offer, Slot
from waitlist.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener():
    running = ListenerThread(idle_seconds=5)
    port = running.start()
    yield port
    assert running.alive, "the listener died"
    running.stop()
    assert not running.alive


@pytest.fixture
def clinic():
    """Two providers, a type, and nine patients waiting for anyone."""
    providers = [ProviderFactory(identifier_value=NPI, name="Dr. Maria Chen"),
                 ProviderFactory(identifier_value="1098765430", name="Dr. Sam Okafor")]
    AppointmentTypeFactory(code="follow-up")
    entries = [WaitlistEntryFactory() for _ in range(9)]
    return providers, entries


def test_cancellations_over_mllp_open_slots_and_offering_starts(listener, clinic):
    (chen, okafor), _ = clinic
    day = future_start(days=3, hour=9)
    messages = [siu("S15", appointment_id=f"APT-{hour}", start=day + dt.timedelta(hours=hour),
                    provider_id=(NPI if hour % 2 == 0 else "1098765430"))
                for hour in range(3)]

    acks = exchange(listener, *messages)

    assert [ack.code for ack in acks] == ["AA", "AA", "AA"]
    assert all("opened" in ack.text for ack in acks)
    slots = list(Slot.objects.order_by("start"))
    assert [slot.provider for slot in slots] == [chen, okafor, chen]
    assert [slot.start for slot in slots] == [day + dt.timedelta(hours=h) for h in range(3)]
    assert {slot.source for slot in slots} == {Slot.Source.EHR}
    for slot in slots:
        # Offering started at once: the first batch is out, nobody holds two offers.
        assert Offer.objects.filter(slot=slot, status=Offer.Status.SENT).count() == 3
    assert Offer.objects.values("patient").distinct().count() == 9
    assert "[HL7: EPIC/RIVERSIDE] Cancellation recorded from the EHR (HL7 SIU^S15)" == (
        slots[0].history.earliest().history_change_reason)
    assert Hl7Message.objects.filter(ack_code="AA").count() == 3


def test_a_resent_control_id_is_acknowledged_again_and_applied_once(listener, clinic):
    message = siu("S15", control_id="CTRL-42")

    first = exchange(listener, message)[0]
    offers_after_first = list(Offer.objects.values_list("pk", "status"))
    again = exchange(listener, message, message)

    assert [first.code, *[ack.code for ack in again]] == ["AA", "AA", "AA"]
    assert {first.control_id, *[ack.control_id for ack in again]} == {"CTRL-42"}
    assert "already applied" in again[0].text
    assert Slot.objects.count() == 1
    assert list(Offer.objects.values_list("pk", "status")) == offers_after_first
    kept = Hl7Message.objects.get()
    assert (kept.control_id, kept.repeats) == ("CTRL-42", 2)


def test_the_same_cancellation_under_a_new_control_id_is_not_a_second_slot(listener, clinic):
    acks = exchange(listener, siu("S15", control_id="A1"), siu("S15", control_id="A2"))

    assert [ack.code for ack in acks] == ["AA", "AA"]
    assert "opened before" in acks[1].text
    assert Slot.objects.count() == 1


def test_an_unknown_provider_gets_ae_with_the_reason_and_changes_nothing(listener, clinic):
    before = business_state()

    ack = exchange(listener, siu("S15", control_id="U1", provider_id="9999999999",
                                 provider_name="Nobody^Ann"))[0]

    assert ack.code == "AE"
    assert ack.control_id == "U1"
    assert "unknown provider 9999999999 (Ann Nobody)" in ack.error_text
    assert ack.text.startswith("unknown provider 9999999999")
    assert (ack.error_location, ack.error_code) == ("AIP^1^3", "204")
    assert business_state() == before
    kept = Hl7Message.objects.get()
    assert (kept.ack_code, kept.control_id) == ("AE", "U1")


def test_a_refused_message_is_applied_when_sent_again_after_the_fix(listener, clinic):
    message = siu("S15", control_id="FIX-1", provider_id="5555555555")
    assert exchange(listener, message)[0].code == "AE"

    ProviderFactory(identifier_value="5555555555")
    ack = exchange(listener, message)[0]

    assert ack.code == "AA"
    assert Slot.objects.count() == 1
    assert list(Hl7Message.objects.order_by("pk").values_list("ack_code", flat=True)) == [
        "AE", "AA"]


@pytest.mark.parametrize(("message_type", "error_code"), [
    ("ORU^R01^ORU_R01", "200"), ("SIU^S17^SIU_S12", "201"), ("ADT^A04^ADT_A01", "201"),
    ("QRY^A19", "200"),
])
def test_a_message_type_not_handled_gets_ar(listener, clinic, message_type, error_code):
    before = business_state()
    message = siu("S15").replace("SIU^S15^SIU_S12", message_type)

    ack = exchange(listener, message)[0]

    assert ack.code == "AR"
    assert ack.error_code == error_code
    assert message_type.split("^")[0] in ack.error_text
    assert business_state() == before


# --- hostile input ------------------------------------------------------------------------

VALID = siu("S15", control_id="HOSTILE").encode()

hostile_frames = st.one_of(
    # random bytes, framed and not
    st.binary(max_size=3000).map(lambda data: SB + data.replace(EB, b"") + EB),
    st.binary(min_size=1, max_size=3000),
    # a message cut short: no end block, then the peer stops sending
    st.integers(min_value=0, max_value=len(VALID)).map(lambda cut: SB + VALID[:cut]),
    # oversized: a megabyte-class message (its MSH is legible)
    st.integers(min_value=MAX_MESSAGE_BYTES + 1, max_value=1_200_000).map(
        lambda size: SB + VALID[:60] + b"A" * size + EB),
    # wrong encoding: UTF-16, or bytes that are not the UTF-8 MSH-18 declares
    st.sampled_from(["utf-16", "utf-32", "utf-16-be"]).map(
        lambda codec: SB + VALID.decode().encode(codec) + EB),
    st.just(SB + msh("SIU^S15^SIU_S12", "ENC", charset="UNICODE UTF-8").encode()
            + b"\rPID|1||M1||Pe\xf1a^Jos\xe9" + EB),
    # MLLP control characters where they do not belong
    st.lists(st.sampled_from([SB, EB, b"\x1c", b"\r", b"MSH|", b"\x00"]), max_size=30).map(
        b"".join),
)


def _talk_hostile(port: int, data: bytes) -> list[bytes]:
    """Send, say we are done, read what comes back until the listener closes."""
    answers = []
    with MllpClient(port, timeout=30) as client:
        try:
            client.send_raw(data)
            client.socket.shutdown(socket.SHUT_WR)
            while (ack := client.read_ack()):
                answers.append(ack)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed on us mid-send: also an answer
    return answers


@pytest.mark.slow
def test_hostile_frames_never_kill_the_listener_and_store_nothing(listener, clinic):
    before = business_state()
    answered, tried = [], []

    @hypothesis_settings(max_examples=200, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow,
                                                HealthCheck.data_too_large])
    @given(data=hostile_frames)
    def check(data):
        tried.append(data)
        for answer in _talk_hostile(listener, data):
            # An answer is always a refusal, in a frame, in HL7.
            assert answer.split(b"\r")[1].startswith(b"MSA|AR|"), answer[:200]
            answered.append(answer)
        assert kept_messages() == 0

    check()

    assert business_state() == before
    assert len(tried) >= 200
    assert any(b"larger than" in answer for answer in answered)
    assert any(b"control characters" in answer or b"not valid" in answer for answer in answered)
    # Still serving, on a fresh connection.
    assert exchange(listener, siu("S15", control_id="AFTER"))[0].code == "AA"


def test_an_oversized_message_is_refused_naming_its_control_id(listener, clinic):
    big = siu("S15", control_id="BIG-1", extra=("NTE|1||" + "x" * MAX_MESSAGE_BYTES,))

    with MllpClient(listener) as client:
        refused = client.send(big)
        after = client.send(siu("S15", control_id="SMALL-1"))

    assert (refused.code, refused.control_id) == ("AR", "BIG-1")
    assert "larger than" in refused.error_text
    assert after.code == "AA"
    assert list(Hl7Message.objects.values_list("control_id", flat=True)) == ["SMALL-1"]


def test_a_frame_without_its_end_block_is_dropped_and_the_next_frame_served(listener, clinic):
    with MllpClient(listener) as client:
        client.send_raw(SB + siu("S15", control_id="CUT").encode()[:120])
        ack = client.send(siu("S15", control_id="WHOLE"))

    assert (ack.code, ack.control_id) == ("AA", "WHOLE")
    assert list(Hl7Message.objects.values_list("control_id", flat=True)) == ["WHOLE"]


def test_a_connection_that_goes_quiet_inside_a_frame_is_closed(clinic):
    running = ListenerThread(idle_seconds=0.5)
    port = running.start()
    try:
        with MllpClient(port, timeout=10) as client:
            client.send_raw(SB + b"MSH|^~\\&|EPIC")
            assert client.closed_by_peer()
        assert exchange(port, siu("S15"))[0].code == "AA"
        assert kept_messages() == 1
    finally:
        running.stop()


def test_bytes_outside_a_frame_close_the_connection(listener, clinic):
    with MllpClient(listener) as client:
        client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.closed_by_peer()
    assert kept_messages() == 0


def test_an_error_while_applying_is_answered_ar_and_the_listener_goes_on(clinic):
    calls = []

    def failing(*, raw, peer):
        calls.append(raw)
        if len(calls) == 1:
            raise RuntimeError("database unavailable")
        return "MSH|^~\\&|X\rMSA|AA|OK\r"

    running = ListenerThread(handle=failing)
    port = running.start()
    try:
        with MllpClient(port) as client:
            first = client.send(siu("S15", control_id="DOWN-1"))
            second = client.send(siu("S15", control_id="UP-1"))
        assert (first.code, first.control_id, first.error_code) == ("AR", "DOWN-1", "207")
        assert "again later" in first.error_text
        assert second.code == "AA"
        assert len(calls) == 2
    finally:
        running.stop()


def test_two_connections_sending_one_control_id_at_once_apply_it_once(listener, clinic):
    message = siu("S15", control_id="TWICE")
    barrier = threading.Barrier(2)
    acks = []

    def send():
        with MllpClient(listener) as client:
            barrier.wait()
            acks.append(client.send(message))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(ack.code for ack in acks) == ["AA", "AA"]
    assert Slot.objects.count() == 1
    assert Hl7Message.objects.get().repeats == 1


def test_a_day_of_cancellations_from_three_connections_at_once(listener, clinic):
    (chen, okafor), _ = clinic
    day = future_start(days=4, hour=8)
    batches = [[siu("S15", appointment_id=f"DAY-{c}-{i}",
                    start=day + dt.timedelta(minutes=40 * (3 * i + c)),
                    provider_id=NPI if (i + c) % 2 else "1098765430")
                for i in range(4)] for c in range(3)]
    results = []

    def engine(messages):
        results.extend(exchange(listener, *messages))

    threads = [threading.Thread(target=engine, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [ack.code for ack in results] == ["AA"] * 12
    assert Slot.objects.count() == 12
    live = Offer.objects.filter(status__in=Offer.LIVE_STATUSES)
    # Nine patients, twelve slots: each patient holds at most one offer at a time.
    assert live.values("patient").distinct().count() == live.count() == 9


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.20.0.5", True), ("10.20.1.5", False), ("::ffff:10.20.0.9", True),
    ("2001:db8::1", False), ("127.0.0.1", True), ("::1", True), ("not-an-ip", False),
])
def test_only_the_allowed_networks_and_this_machine_may_connect(settings, address, allowed):
    settings.HL7_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/24")]

    assert mllp._allowed(address) is allowed


def test_with_networks_listed_the_engine_on_this_machine_still_connects(listener, clinic,
                                                                        settings):
    settings.HL7_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/24")]

    assert exchange(listener, siu("S15"))[0].code == "AA"
