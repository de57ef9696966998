"""The simulated clinic: providers, visit types, a waitlist, and the cancellations of each
day, all drawn from the seed (the same seed, the same clinic and the same calls).

The clinic is written with bulk inserts (thousands of rows in well under a second);
cancellations are only planned here: the run records each one through the engine's
`slot_open` at its virtual arrival time, as the EHR feed would.
"""

import datetime as dt
import math
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings

from clinic.models import AppointmentType, Location, Patient, Provider
from ehr.models import HeldAppointment
from fillsim.config import Workload
from waitlist.models import WaitlistEntry

# (code, name, minutes, share of cancelled appointments and of typed waitlist entries)
VISIT_TYPES = (
    ("follow-up", "Follow-up", 20, 0.6),
    ("new-patient", "New patient", 40, 0.3),
    ("procedure", "Procedure", 60, 0.1),
)
GRID_MINUTES = 20
FIRST_NAMES = ("Ana", "Ben", "Carla", "Dev", "Elena", "Frank", "Grace", "Hugo", "Iris",
               "Jamal", "Kim", "Luis", "Maya", "Nate", "Olga", "Priya", "Quinn", "Rosa")


@dataclass(frozen=True)
class Cancellation:
    """One freed appointment, phoned in at `at` (aware, UTC)."""

    at: dt.datetime
    provider: int  # index into the providers, 0-based
    start: dt.datetime
    minutes: int
    visit_type: str
    sick_day: bool = False


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=clinic_zone())


def start_of_run(workload: Workload) -> dt.datetime:
    return local(workload.first_day, dt.time(0, 0))


def phone_of(index: int) -> str:
    """Patient `index`'s number: E.164, unique, in the 555 range no real phone uses."""
    return f"+1312555{index:04d}" if index < 10_000 else f"+1773{index:07d}"


def _weighted(rng: random.Random, choices, weights):
    return rng.choices(choices, weights=weights, k=1)[0]


def clinic_create(workload: Workload) -> list[Provider]:
    """Locations, visit types, providers and the waitlist (one patient per entry), in
    bulk. Returns the providers in index order."""
    rng = random.Random(f"{workload.seed}:clinic")
    first_day = workload.first_day
    locations = Location.objects.bulk_create(
        [Location(name=f"Site {n + 1}") for n in range(workload.locations)])
    types = AppointmentType.objects.bulk_create(
        [AppointmentType(code=code, name=name, duration_minutes=minutes)
         for code, name, minutes, _ in VISIT_TYPES])
    type_weights = [share for *_, share in VISIT_TYPES]
    providers = Provider.objects.bulk_create([
        Provider(name=f"Dr. Sim {n + 1:02d}", identifier_system="urn:fillsim:provider",
                 identifier_value=f"sim-{n + 1}", location=locations[n % len(locations)])
        for n in range(workload.providers)])

    patients = []
    for n in range(workload.waitlist):
        patients.append(Patient(
            first_name=FIRST_NAMES[n % len(FIRST_NAMES)], last_name=f"Sim{n:05d}",
            phone=phone_of(n),
            preferred_language="es" if rng.random() < workload.spanish_share else "en"))
    # Drawn from a generator of its own: a run without voice patients is the run it was.
    voice_rng = random.Random(f"{workload.seed}:voice")
    for patient in patients:
        if workload.voice_share and voice_rng.random() < workload.voice_share:
            patient.offer_channel = Patient.OfferChannel.VOICE
    patients = Patient.objects.bulk_create(patients, batch_size=500)

    entries, wanted = [], []
    for patient in patients:
        any_provider = rng.random() < workload.any_provider_share
        entry = WaitlistEntry(
            patient=patient, any_provider=any_provider,
            urgent=rng.random() < workload.urgent_share,
            boost=rng.choice((10, 20, 30)) if rng.random() < workload.boosted_share else 0,
            added_at=start_of_run(workload) - dt.timedelta(days=rng.uniform(0, 180)),
            source=WaitlistEntry.Source.EHR,
        )
        if any_provider and rng.random() < 0.5:
            entry.location = rng.choice(locations)
        if rng.random() < workload.typed_share:
            entry.appointment_type = _weighted(rng, types, type_weights)
        if rng.random() < workload.window_share:
            earliest = first_day + dt.timedelta(days=rng.randint(-3, 6))
            entry.earliest_date = earliest
            entry.latest_date = earliest + dt.timedelta(days=rng.randint(2, 14))
        if rng.random() < workload.current_appointment_share:
            # Weeks out: lognormal around five weeks, at least a week.
            weeks = max(1.0, math.exp(rng.gauss(math.log(5), 0.6)))
            day = first_day + dt.timedelta(days=round(weeks * 7))
            entry.current_appointment_at = local(day, dt.time(rng.randint(8, 16), 0))
        entries.append(entry)
        wanted.append(None if any_provider else rng.randrange(len(providers)))
    entries = WaitlistEntry.objects.bulk_create(entries, batch_size=500)
    through = WaitlistEntry.providers.through
    through.objects.bulk_create(
        [through(waitlistentry_id=entry.pk, provider_id=providers[index].pk)
         for entry, index in zip(entries, wanted, strict=True) if index is not None],
        batch_size=1000)
    held_appointments_create(workload, entries, wanted, providers, types)
    return providers


def held_appointments_create(workload: Workload, entries, wanted, providers, types) -> int:
    """The current appointments the EHR named (HL7 S12): `held_share` of them, each with
    its id, provider (the one the entry waits for, else one drawn) and length, as
    ehr.HeldAppointment rows, which a chain fill frees (ehr/chain.py). Drawn from a seed
    of their own, so the rest of the clinic is the same as without them."""
    rng = random.Random(f"{workload.seed}:held")
    minutes_of = {t.pk: t.duration_minutes for t in types}
    held = []
    for entry, index in zip(entries, wanted, strict=True):
        if entry.current_appointment_at is None or rng.random() >= workload.held_share:
            continue
        provider = providers[index if index is not None else rng.randrange(len(providers))]
        minutes = minutes_of.get(entry.appointment_type_id, GRID_MINUTES)
        held.append(HeldAppointment(
            entry=entry, identifier_system="urn:fillsim:appointment",
            identifier_value=f"held-{entry.pk}", start=entry.current_appointment_at,
            end=entry.current_appointment_at + dt.timedelta(minutes=minutes),
            provider=provider, appointment_type=entry.appointment_type))
    HeldAppointment.objects.bulk_create(held, batch_size=500)
    return len(held)


class _Diary:
    """Which appointment times of each provider are already freed (no two overlap)."""

    def __init__(self):
        self.taken: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}

    def free(self, provider: int, start: dt.datetime, end: dt.datetime) -> bool:
        return all(end <= s or start >= e for s, e in self.taken.get(provider, ()))

    def take(self, provider: int, start: dt.datetime, end: dt.datetime) -> None:
        self.taken.setdefault(provider, []).append((start, end))


def _grid(day: dt.date, workload: Workload, minutes: int) -> list[dt.datetime]:
    """Appointment starts of one day on the grid, for a visit of `minutes`."""
    first, last = local(day, workload.open_at), local(day, workload.close_at)
    starts, at = [], first
    while at + dt.timedelta(minutes=minutes) <= last:
        starts.append(at)
        at += dt.timedelta(minutes=GRID_MINUTES)
    return starts


def cancellations_plan(workload: Workload) -> list[Cancellation]:
    """Every cancellation of the run, in arrival order. Each day: `cancellations_per_day`
    calls spread over the phone hours, each freeing one appointment; how far ahead it was
    follows `lead_mix`. The sick-day scenario adds one provider's whole day, freed at
    07:30 on the second day (the first, in a one-day run)."""
    rng = random.Random(f"{workload.seed}:cancellations")
    diary = _Diary()
    plan: list[Cancellation] = []
    codes = [code for code, *_ in VISIT_TYPES]
    minutes_of = {code: minutes for code, _, minutes, _ in VISIT_TYPES}
    weights = [share for *_, share in VISIT_TYPES]

    sick_day = min(1, workload.days - 1) if workload.scenario == "sick-day" else None
    for day_index in range(workload.days):
        day = workload.first_day + dt.timedelta(days=day_index)
        if day_index == sick_day:
            plan.extend(_sick_day(workload, day, diary, rng))
        opens, closes = local(day, workload.calls_open), local(day, workload.calls_close)
        window = (closes - opens).total_seconds()
        arrivals = sorted(opens + dt.timedelta(seconds=round(rng.uniform(0, window)))
                          for _ in range(workload.cancellations_per_day))
        for at in arrivals:
            code = _weighted(rng, codes, weights)
            minutes = minutes_of[code]
            for _attempt in range(30):
                provider = rng.randrange(workload.providers)
                start = _lead_start(rng, workload, at, minutes)
                end = start + dt.timedelta(minutes=minutes)
                if diary.free(provider, start, end):
                    diary.take(provider, start, end)
                    plan.append(Cancellation(at=at.astimezone(dt.UTC), provider=provider,
                                             start=start.astimezone(dt.UTC), minutes=minutes,
                                             visit_type=code))
                    break
    plan.sort(key=lambda c: c.at)
    return plan


def _lead_start(rng: random.Random, workload: Workload, at: dt.datetime,
                minutes: int) -> dt.datetime:
    """The start of the appointment freed by a call at `at`: later today, within 48 h,
    in 2-3 days or in 3-7 days, by `lead_mix`."""
    kind = _weighted(rng, (0, 1, 2, 3), workload.lead_mix)
    if kind == 0:
        later_today = [s for s in _grid(at.date(), workload, minutes)
                       if s >= at + dt.timedelta(minutes=30)]
        if later_today:
            return rng.choice(later_today)
        kind = 1
    offset = {1: rng.choice((1, 1, 2)), 2: rng.choice((2, 3)), 3: rng.randint(4, 7)}[kind]
    return rng.choice(_grid(at.date() + dt.timedelta(days=offset), workload, minutes))


def _sick_day(workload: Workload, day: dt.date, diary: _Diary,
              rng: random.Random) -> list[Cancellation]:
    """Provider 0 calls in sick: their whole day, back to back, freed at once."""
    at = local(day, workload.sick_day_call)
    start, close = local(day, workload.open_at), local(day, workload.close_at)
    freed = []
    while start < close:
        code, _, minutes, _ = _weighted(rng, VISIT_TYPES, [s for *_, s in VISIT_TYPES])
        end = start + dt.timedelta(minutes=minutes)
        if end > close:
            code, minutes = "follow-up", 20
            end = start + dt.timedelta(minutes=minutes)
        if diary.free(0, start, end):
            diary.take(0, start, end)
            freed.append(Cancellation(at=at.astimezone(dt.UTC), provider=0,
                                      start=start.astimezone(dt.UTC), minutes=minutes,
                                      visit_type=code, sick_day=True))
        start = end
    return freed
