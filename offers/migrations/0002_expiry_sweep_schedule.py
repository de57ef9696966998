"""Install the beat sweep that catches offer holds a countdown task missed: exactly one
periodic task, every 30 seconds (settings.OFFER_SWEEP_SECONDS), whatever runs migrate."""

from django.db import migrations

TASK_NAME = "offers: expire due holds and resume waiting slots"


def install(apps, schema_editor):
    from django.conf import settings

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every = getattr(settings, "OFFER_SWEEP_SECONDS", 30)
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "offers.tasks.offers_sweep", "interval": schedule, "enabled": True},
    )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
