"""Installs settings.CELERY_BEAT_SCHEDULE, the one declaration of every periodic job, into
django-celery-beat's tables: each entry by its name, created or brought up to date (its
task and interval), so exactly one periodic task per entry exists however often this runs.

Run after every `migrate` (ClinicConfig.ready connects it to post_migrate); beat's
database scheduler does the same when it starts. Entries no longer declared are left alone
(an operator may have added their own in the admin).
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


def beat_schedule_install(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create or update the declared periodic tasks; returns their names."""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return []  # django-celery-beat is not migrated (yet) on this database
    installed = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, **entry)
        PeriodicTask.objects.using(using).filter(name=name).update(enabled=True)
        installed.append(name)
    return installed


def install_after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    beat_schedule_install(using=using)
