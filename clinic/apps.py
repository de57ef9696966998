from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self):
        from clinic import audit, roles

        roles.connect()
        audit.connect()
        _label_admin_date_times()


def _label_admin_date_times() -> None:
    """Every ModelAdmin renders its date-times with labelled inputs. The admins are all
    registered by now (the admin app's ready() ran autodiscover first) and each copied
    Django's widget defaults when it was made, so each one's copy is updated."""
    from django.contrib import admin
    from django.db import models

    from clinic.lib.admin import LabelledAdminSplitDateTime

    for model_admin in admin.site._registry.values():
        overrides = model_admin.formfield_overrides.setdefault(models.DateTimeField, {})
        if overrides.get("widget") in (None, admin.widgets.AdminSplitDateTime):
            overrides["widget"] = LabelledAdminSplitDateTime
