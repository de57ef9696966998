"""Whole-system tests: faults, fuzz, load, constraints, audit, security, privacy.

They drive every app at once, so they live above all of them, not in one app's tests/."""

from messaging.tests.twilio_fakes import fake_twilio  # noqa: F401  (a shared fixture)
