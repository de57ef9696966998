from messaging.tests.twilio_fakes import fake_twilio  # noqa: F401  (a shared fixture)
