"""The simulator end to end: small clinics simulated through the real engine, each in a
process and a database of its own, with the figures read back from those databases."""

import datetime as dt
import io
import json
import math
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fillsim.config import PatientModel, SimConfig, Workload, policies_named
from fillsim.parallel import run_policies
from fillsim.patients import Patients
from fillsim.workload import cancellations_plan

pytestmark = pytest.mark.slow

# Texts may leave around the clock, so "minutes to fill" measures the engine alone.
ALWAYS = "00:00-24:00"
VARYING = ("wall_seconds", "job_seconds")


def simulate(config: SimConfig, policy: str = "seed") -> dict:
    return run_policies(config, policies_named([policy]), jobs=1, progress=False)[policy]


def same_figures(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in VARYING}


def test_everyone_answering_yes_at_once_fills_every_slot_that_has_candidates_in_its_first_batch():
    config = SimConfig(
        workload=Workload(days=1, seed=3, providers=3, waitlist=60, cancellations_per_day=8),
        patients=PatientModel.everyone_yes_at_once(), sms_send_hours=ALWAYS)
    result = simulate(config)

    outcomes = result["slot_outcomes"]
    offered = [slot for slot in outcomes if slot["offers"]]
    assert len(outcomes) == 8
    assert offered, "the workload gave no slot a candidate"
    for slot in offered:
        assert slot["status"] == "filled"
        assert slot["batches"] == 1
        assert slot["minutes_to_fill"] == 0
    # The others had nobody to ask: too soon to offer, or nobody on the waitlist fits.
    for slot in outcomes:
        if not slot["offers"]:
            assert slot["status"] == "unfilled"
            assert slot["unfilled_reason"] in ("too_soon", "nobody_fits")
    assert result["filled"] == len(offered)
    assert result["median_minutes_to_fill"] == 0
    assert result["p90_minutes_to_fill"] == 0
    assert result["double_bookings"] == 0
    assert result["unanswered_yes"] == 0


def test_nobody_answering_fills_nothing_and_every_slot_ends_unfilled_after_the_expected_batches():
    # One cancellation a day, each far ahead: every slot is offered alone, in full batches
    # of 3, to everyone who fits, until nobody is left.
    workload = Workload(days=3, seed=5, providers=2, waitlist=40, cancellations_per_day=1,
                        lead_mix=(0, 0, 0, 1), any_provider_share=0.0, window_share=0.0,
                        current_appointment_share=0.0)
    result = simulate(SimConfig(workload=workload, patients=PatientModel.nobody_answers(),
                                sms_send_hours=ALWAYS))

    assert result["filled"] == 0
    assert result["fill_rate"] == 0
    assert result["median_minutes_to_fill"] is None
    assert len(result["slot_outcomes"]) == 3
    for slot in result["slot_outcomes"]:
        assert slot["status"] == "unfilled"
        assert slot["unfilled_reason"] == "nobody_took_it"
        assert slot["offers"] > 0
        assert slot["batches"] == math.ceil(slot["offers"] / 3)
    assert result["offers"] == sum(slot["offers"] for slot in result["slot_outcomes"])
    assert result["texts"] == result["offers"]  # nothing else is ever texted
    assert result["unanswered_yes"] == 0


SMALL = ["--days", "1", "--waitlist", "80", "--providers", "4", "--cancellations-per-day",
         "6", "--policy", "seed", "--no-progress"]


def run_command(tmp_path, name: str, *flags: str) -> dict:
    path = tmp_path / f"{name}.json"
    call_command("simulate", *SMALL, *flags, "--json", str(path), stdout=io.StringIO())
    return json.loads(path.read_text())


def test_the_same_seed_gives_the_same_figures_and_the_json_keeps_its_keys(tmp_path):
    first = run_command(tmp_path, "first", "--seed", "11")
    second = run_command(tmp_path, "second", "--seed", "11")

    figures = first["policies"]["seed"]
    for key in ("slots", "filled", "fill_rate", "fill_rate_by_lead", "median_minutes_to_fill",
                "p90_minutes_to_fill", "texts_per_fill", "offers_per_fill",
                "max_texts_patient_day", "max_texts_patient_week", "median_days_sooner",
                "double_bookings", "unanswered_yes"):
        assert key in figures, key
    assert set(figures["fill_rate_by_lead"]) == {"<4h", "4-24h", "1-3d", ">3d"}
    assert figures["slots"] == 6
    assert figures["offers"] > 0
    assert same_figures(figures) == same_figures(second["policies"]["seed"])
    assert figures["double_bookings"] == 0
    assert figures["unanswered_yes"] == 0


def test_changing_the_reply_rate_changes_the_figures(tmp_path):
    # No chain fills: more bookings would free more slots, whose offers count too.
    rarely = run_command(tmp_path, "rarely", "--seed", "11", "--reply-rate", "0.1",
                         "--held-share", "0")
    often = run_command(tmp_path, "often", "--seed", "11", "--reply-rate", "0.9",
                        "--held-share", "0")

    rarely, often = rarely["policies"]["seed"], often["policies"]["seed"]
    assert same_figures(rarely) != same_figures(often)
    assert rarely["reply_rate"] < often["reply_rate"]
    assert rarely["offers"] > often["offers"]  # fewer answers: more batches to find a taker


def test_sick_day_frees_one_providers_whole_day_back_to_back_at_half_past_seven():
    typical = cancellations_plan(Workload(days=2, seed=2, scenario="typical"))
    sick = cancellations_plan(Workload(days=2, seed=2, scenario="sick-day"))

    freed = [call for call in sick if call.sick_day]
    assert len(sick) == len(typical) + len(freed)
    assert {call.provider for call in freed} == {0}
    zone = ZoneInfo("America/Chicago")
    assert {call.at.astimezone(zone) for call in freed} == {
        dt.datetime(2027, 3, 2, 7, 30, tzinfo=zone)}
    starts = sorted(call.start.astimezone(zone) for call in freed)
    assert starts[0].time() == dt.time(8, 0)
    ends = sorted(c.start.astimezone(zone) + dt.timedelta(minutes=c.minutes) for c in freed)
    assert ends[-1].time() == dt.time(17, 0)
    # Back to back: each visit starts when the one before ends (except where a typical
    # cancellation of that provider already freed the time).
    assert len(freed) >= 9


def test_a_sick_day_runs_through_the_engine_without_double_bookings():
    # Everyone says YES at once (kept small: a sick day's many waiting slots are the
    # engine's most expensive case, docs/simulator.md).
    config = SimConfig(workload=Workload(days=1, seed=2, providers=2, waitlist=16,
                                         cancellations_per_day=1, scenario="sick-day"),
                       patients=PatientModel.everyone_yes_at_once())
    result = simulate(config)
    assert result["slots"] >= 10
    assert result["filled"] > 0
    assert result["double_bookings"] == 0
    assert result["unanswered_yes"] == 0


def test_a_hold_shorter_than_the_engine_gives_is_refused_with_a_clear_error():
    with pytest.raises(CommandError, match="hold-minutes"):
        call_command("simulate", *SMALL, "--hold-minutes", "0.5")


def test_replies_per_patient_are_the_same_under_every_policy():
    """Common random numbers: a patient answers a given slot's offer the same way,
    whichever policy made it."""
    model = replace(PatientModel(), reply_rate=0.5)
    one = Patients(model, seed=4, zone=ZoneInfo("America/Chicago"))
    other = Patients(model, seed=4, zone=ZoneInfo("America/Chicago"))
    at = dt.datetime(2027, 3, 1, 15, tzinfo=dt.UTC)
    answers = [one.answer(phone=f"+131255500{n:02d}", slot_key="0:x", texted_at=at,
                          slot_start=at + dt.timedelta(days=2)) for n in range(40)]
    again = [other.answer(phone=f"+131255500{n:02d}", slot_key="0:x", texted_at=at,
                          slot_start=at + dt.timedelta(days=2)) for n in range(40)]
    assert answers == again
    assert any(answers)
    assert not all(answers)


def test_voice_patients_are_called_and_fills_are_reported_by_channel(tmp_path):
    """--voice-share: some patients are offered by call (through the voice webhooks' own
    code), and the figures say how many slots each channel filled."""
    out = io.StringIO()
    path = tmp_path / "voice.json"
    call_command("simulate", *SMALL, "--seed", "5", "--voice-share", "0.5", "--accept-rate",
                 "0.9", "--json", str(path), stdout=out)
    result = json.loads(path.read_text())

    figures = result["policies"]["seed"]
    assert result["flags"]["voice_share"] == 0.5
    assert figures["calls"] > 0
    by_channel = figures["fills_by_channel"]
    assert by_channel["voice"] > 0
    assert by_channel["sms"] > 0
    assert by_channel["voice"] + by_channel["sms"] == figures["filled"] + figures["chain_fills"]
    assert figures["double_bookings"] == 0
    assert figures["unanswered_yes"] == 0
    assert "filled by call" in out.getvalue()


def test_without_voice_share_nobody_is_called():
    config = SimConfig(workload=Workload(days=1, seed=3, providers=3, waitlist=60,
                                         cancellations_per_day=8),
                       patients=PatientModel.everyone_yes_at_once(), sms_send_hours=ALWAYS)
    result = simulate(config)
    assert result["calls"] == 0
    assert result["fills_by_channel"] == {"sms": result["filled"] + result["chain_fills"],
                                          "voice": 0}


def test_chain_fills_are_counted_apart_from_the_workloads_slots():
    """Bookings free the later appointments the EHR named (held_share); those are offered
    in turn through the engine and counted as chain fills, not as workload slots."""
    workload = Workload(days=1, seed=3, providers=3, waitlist=60, cancellations_per_day=8)
    config = SimConfig(workload=workload, patients=PatientModel.everyone_yes_at_once(),
                       sms_send_hours=ALWAYS)
    chained = simulate(replace(config, workload=replace(workload, held_share=1.0)))
    unchained = simulate(replace(config, workload=replace(workload, held_share=0.0)))

    assert chained["chain_slots"] > 0
    assert 0 < chained["chain_fills"] <= chained["chain_slots"]
    assert (unchained["chain_slots"], unchained["chain_fills"]) == (0, 0)
    # The workload's own figures are of the same eight cancellations either way.
    assert chained["slots"] == unchained["slots"] == 8
    assert len(chained["slot_outcomes"]) == 8
    assert chained["double_bookings"] == 0
    assert chained["unanswered_yes"] == 0
