"""A message's subject: a generic reference (content type and id) that messaging stores
and never interprets, in place of the foreign key to offers.Offer. The offer engine's
migration offers/0006 copies the old offer links into it (it alone knows they were
offers), before 0005 drops the old column."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("messaging", "0003_plain_status_words"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="subject_type",
            field=models.ForeignKey(blank=True, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="+", to="contenttypes.contenttype"),
        ),
        migrations.AddField(
            model_name="message",
            name="subject_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["subject_type", "subject_id"], name="message_subject"),
        ),
    ]
