"""Once installed the beat sweep. The schedule is now declared in settings
(CELERY_BEAT_SCHEDULE, driven by OFFER_SWEEP_SECONDS) and installed after every migrate
by clinic/lib/beat.py, so a changed interval is no longer ignored; this migration stays,
doing nothing, for the databases that applied it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
