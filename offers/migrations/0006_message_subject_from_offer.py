"""Each message that was linked to an offer (messaging's old offer column) gets that offer
as its subject. Runs between messaging 0004 (the subject columns) and 0005 (the old
column dropped); `run_before` says so from this side, so messaging's migrations name no
app above it. A fresh database has no such messages: nothing to copy."""

from django.db import migrations
from django.db.models import F


def offer_links_to_subjects(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Message = apps.get_model("messaging", "Message")
    linked = Message.objects.using(schema_editor.connection.alias).filter(offer_id__isnull=False)
    if not linked.exists():
        return
    offer_type, _ = ContentType.objects.using(schema_editor.connection.alias).get_or_create(
        app_label="offers", model="offer")
    linked.update(subject_type=offer_type, subject_id=F("offer_id"))


def subjects_to_offer_links(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Message = apps.get_model("messaging", "Message")
    offer_type = ContentType.objects.filter(app_label="offers", model="offer").first()
    if offer_type is not None:
        Message.objects.filter(subject_type=offer_type).update(offer_id=F("subject_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0005_slot_waiting_for_unfilled_reason"),
        ("messaging", "0004_message_subject"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    run_before = [("messaging", "0005_remove_message_offer_id")]

    operations = [migrations.RunPython(offer_links_to_subjects, subjects_to_offer_links)]
