"""The Celery app: `celery -A clinic worker` and `celery -A clinic beat`."""

import os

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")


class Task(DjangoTask):
    """Queue-after-commit that survives a broker outage.

    The data is committed before the task is queued (a transactional outbox: the rows are
    the record of work to do). If the broker is down at that moment, the error is logged
    instead of turning a saved cancellation into a 500 that invites a second, duplicate
    one; the beat sweep finds the work that was never queued and does it.
    """

    def delay_on_commit(self, *args, **kwargs) -> None:
        self._on_commit(lambda: self.delay(*args, **kwargs))

    def apply_async_on_commit(self, *args, **kwargs) -> None:
        self._on_commit(lambda: self.apply_async(*args, **kwargs))

    def _on_commit(self, publish) -> None:
        # A named function: Django's robust on_commit logs the callback's __qualname__.
        publish.__qualname__ = f"{self.name}.apply_async"
        transaction.on_commit(publish, robust=True)


app = Celery("clinic", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def logging_from_django_settings(**kwargs) -> None:
    """Worker and beat log through settings.LOGGING, as the web does.

    Left to itself Celery replaces the root logger's handlers with its own
    (worker_hijack_root_logger), dropping the filter that masks phone numbers; with a
    receiver on this signal it configures nothing. The level therefore comes from
    LOG_LEVEL, not from `-l`.
    """
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
