"""Phone numbers are masked in the logs of the web, the runserver request log, and the
Celery worker and beat, which set up logging their own way."""

import io
import logging

import pytest

from clinic.celery import app
from clinic.lib.logmask import MaskPhoneNumbers


def _masks(handler: logging.Handler) -> bool:
    return any(isinstance(f, MaskPhoneNumbers) for f in handler.filters)


def _handlers_reached_by(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers a record logged to `logger` is written by (pytest's own capture
    handlers left out: they exist only under test)."""
    handlers = []
    while logger:
        handlers += [handler for handler in logger.handlers
                     if not type(handler).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None
    return handlers


@pytest.fixture
def celery_logging_setup():
    """Run Celery's logging setup as `celery -A clinic worker` does at start, and put the
    logging configuration back afterwards."""
    root = logging.getLogger()
    saved = {name: (logger.handlers[:], logger.level, logger.propagate)
             for name, logger in [("", root), *[(n, logging.getLogger(n)) for n in (
                 "celery", "celery.task", "django", "django.server")]]}
    was_setup = app.log.already_setup
    app.log.already_setup = False
    try:
        app.log.setup(loglevel="INFO", redirect_stdouts=False, colorize=False)
        yield
    finally:
        app.log.already_setup = was_setup
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def _written_by(logger_name: str, text: str, *args) -> str:
    """What the handlers reached by `logger_name` write for one INFO record."""
    logger = logging.getLogger(logger_name)
    streams = []
    for handler in _handlers_reached_by(logger):
        if isinstance(handler, logging.StreamHandler):
            stream = io.StringIO()
            streams.append((handler, handler.setStream(stream), stream))
    try:
        logger.info(text, *args)
    finally:
        for handler, previous, _ in streams:
            handler.setStream(previous)
    return "".join(stream.getvalue() for _, _, stream in streams)


def test_celery_worker_logging_keeps_the_phone_mask(celery_logging_setup):
    root_handlers = _handlers_reached_by(logging.getLogger())
    assert root_handlers
    assert all(_masks(handler) for handler in root_handlers)

    for name in ("messaging.backends", "celery.app.trace", "celery.worker"):
        output = _written_by(name, "SMS (console backend) to %s", "+13125550142")
        assert "+1******0142" in output, name
        assert "5550142" not in output


def test_runserver_request_log_masks_numbers_in_query_strings():
    handlers = _handlers_reached_by(logging.getLogger("django.server"))
    assert handlers
    assert all(_masks(handler) for handler in handlers)

    output = _written_by("django.server", '"GET /waitlist/?q=%s HTTP/1.1" 200 512',
                         "3125550142")
    assert "******0142" in output
    assert "3125550142" not in output


def test_django_request_errors_are_logged_only_through_the_mask():
    assert all(_masks(handler)
               for handler in _handlers_reached_by(logging.getLogger("django.request")))
