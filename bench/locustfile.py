"""Signed inbound SMS replies, as Twilio would post them, for `locust --headless`.

Driven by bench/runner.py through environment variables:
  BENCH_PATH          the path to post to (the real webhook or the baseline)
  BENCH_PHONES        a file with one patient phone number (E.164) per line
  BENCH_TOKEN         TWILIO_AUTH_TOKEN of the server under test
  BENCH_PUBLIC_BASE   PUBLIC_BASE_URL of the server under test (signatures are for it)
  BENCH_MAX_REQUESTS  stop after this many requests in all (locust's --run-time bounds time)
  BENCH_OUT           where to write every request's latency (JSON)
  BENCH_SEED          seeds the choice of sender and YES/NO

The host is given on the command line and must be 127.0.0.1 (checked below): a load test
never leaves this machine.
"""

import json
import os
import random
import time
import uuid
from urllib.parse import urlencode, urlsplit

from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser
from twilio.request_validator import RequestValidator

PATH = os.environ.get("BENCH_PATH", "/twilio/sms/")
TOKEN = os.environ.get("BENCH_TOKEN", "")
PUBLIC_BASE = os.environ.get("BENCH_PUBLIC_BASE", "").rstrip("/")
MAX_REQUESTS = int(os.environ.get("BENCH_MAX_REQUESTS", "2000"))
OUT = os.environ.get("BENCH_OUT", "")
CLINIC_NUMBER = "+15005550006"
with open(os.environ["BENCH_PHONES"]) as _phones:
    PHONES = [line.strip() for line in _phones if line.strip()]
BODIES = ["YES", "NO", "yes", "Yes", "no"]

validator = RequestValidator(TOKEN)
rng = random.Random(int(os.environ.get("BENCH_SEED", "1")))
state = {"issued": 0, "latencies_ms": [], "failures": 0, "first_start": None, "last_end": None,
         "statuses": {}}


@events.test_start.add_listener
def _only_loopback(environment, **_kwargs):
    host = urlsplit(environment.host or "").hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"Refusing to load {host!r}: the benchmark only targets 127.0.0.1.")


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None,
            exception=None, start_time=None, **_kwargs):
    end = time.time()
    start = start_time or (end - response_time / 1000)
    if state["first_start"] is None or start < state["first_start"]:
        state["first_start"] = start
    state["last_end"] = max(state["last_end"] or end, end)
    status = getattr(response, "status_code", 0) if response is not None else 0
    state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
    if exception is not None:
        state["failures"] += 1
    else:
        state["latencies_ms"].append(response_time)


@events.quitting.add_listener
def _write(environment, **_kwargs):
    if OUT:
        with open(OUT, "w") as out:
            json.dump({key: state[key] for key in
                       ("latencies_ms", "failures", "first_start", "last_end", "statuses")}, out)


class SmsReplier(FastHttpUser):
    """A patient's phone answering an offer, as fast as the server lets it (closed loop)."""

    wait_time = constant(0)

    @task
    def reply(self):
        if state["issued"] >= MAX_REQUESTS:
            raise StopUser()
        state["issued"] += 1
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": "AC" + "0" * 32,
            "From": rng.choice(PHONES),
            "To": CLINIC_NUMBER,
            "Body": rng.choice(BODIES),
            "NumMedia": "0",
        }
        signature = validator.compute_signature(PUBLIC_BASE + PATH, params)
        with self.client.post(
            PATH, data=urlencode(params), name=PATH, catch_response=True,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature},
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
