"""One real Celery worker (`celery -A clinic worker`) against Redis and a database it
can see: it sends a slot's offers and processes an expiry."""

import datetime as dt
import os
import subprocess
import sys
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from clinic.celery import app as celery_app
from messaging.models import Message
from offers.models import Offer, Slot
from offers.tests.conftest import live, open_slot, pass_hold, waitlist

# TEST_REDIS_DB lets two checkouts run their suites at once on one Redis server.
TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB") or 15)


def redis_test_url(url: str) -> str:
    """The same Redis server as REDIS_URL, but its database TEST_REDIS_DB (15): the fixture flushes it,
    and a developer's broker (usually database 0) must survive `make test`."""
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///run/redis.sock?db=0
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("db", TEST_REDIS_DB)])))
    return urlunsplit(parts._replace(path=f"/{TEST_REDIS_DB}"))


REDIS_URL = redis_test_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")

pytestmark = [pytest.mark.celery_worker, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]


def redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def forget_broker_connections():
    # Celery caches its connection pool and producer pool for the broker it first used
    # (another test may have published already); drop both so publishing uses the new URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_broker():
    if not redis_answers():
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"needs Redis at {REDIS_URL} (set REDIS_URL)")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_transport_options, conf.task_always_eager)
    conf.broker_url = REDIS_URL
    conf.broker_transport_options = {"visibility_timeout": 3600}
    conf.task_always_eager = False
    forget_broker_connections()
    yield
    conf.broker_url, conf.broker_transport_options, conf.task_always_eager = saved
    forget_broker_connections()
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def worker(redis_broker):
    db = django_settings.DATABASES["default"]
    if connection.vendor == "postgresql":
        # The test database, reached exactly as this process reaches it (password too).
        user = quote(db["USER"] or "postgres", safe="")
        password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
        database_url = (f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}")
    else:
        database_url = f"sqlite:///{db['NAME']}"
        if ":memory:" in database_url or "mode=memory" in database_url:
            pytest.skip("the worker needs a database file it can open")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "SMS_BACKEND": "console", "DEBUG": "true", "SMS_SEND_HOURS": "00:00-24:00",
           # The batches of three these tests count (conftest.fixed_offer_policy).
           "OFFER_POLICY": "fixed"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "clinic", "worker", "--pool=solo",
         "--loglevel=info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=django_settings.BASE_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(check, *, seconds=45, process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        if process is not None and process.poll() is not None:
            pytest.fail(f"worker exited: {process.stdout.read()[-3000:]}")
        time.sleep(0.3)
    return False


def test_a_real_worker_sends_offers_and_processes_an_expiry(provider, worker):
    waitlist(5)
    start = timezone.now() + dt.timedelta(days=2)
    slot = open_slot(provider, start=start)  # commits: the worker gets offer_next_batch

    assert wait_for(lambda: len(live(slot)) == 3, process=worker), "no batch from the worker"
    sent = Message.objects.filter(kind="offer", offer__slot=slot)
    assert wait_for(lambda: sent.filter(status="sent").count() == 3, process=worker)
    # Each hold starts when its text is handed over, in the worker that sent it.
    on_hold = Offer.objects.filter(slot=slot, status="sent", hold_until__isnull=False)
    assert wait_for(lambda: on_hold.count() == 3, process=worker), "no hold started"

    # The holds pass (the clock moves on); the worker's sweep expires them and sends
    # the next batch to the two people left.
    first = live(slot)
    pass_hold(first)
    from offers.tasks import offers_sweep

    offers_sweep.delay()
    assert wait_for(lambda: Offer.objects.filter(pk__in=[o.pk for o in first],
                                                 status="expired").count() == 3,
                    process=worker), "the worker did not expire the holds"
    assert wait_for(lambda: len(live(slot)) == 2, process=worker)
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OFFERING
    assert slot.current_batch == 2


@pytest.mark.parametrize(("configured", "used"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/{db}"),
    ("redis://:secret@cache.internal:6380", "redis://:secret@cache.internal:6380/{db}"),
    ("rediss://u:p@cache:6379/3?ssl_cert_reqs=none", "rediss://u:p@cache:6379/{db}?ssl_cert_reqs=none"),
])
def test_the_worker_tests_flush_only_their_own_database_of_the_configured_redis(configured, used):
    assert redis_test_url(configured) == used.format(db=TEST_REDIS_DB)
