"""The old link to an offer goes, now that offers/0006 (which runs before this one) has
copied it into the message's subject."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_message_subject"),
    ]

    operations = [
        migrations.RemoveField(model_name="message", name="offer_id"),
    ]
