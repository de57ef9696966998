from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self):
        from clinic import audit, roles

        roles.connect()
        audit.connect()
        _install_beat_schedule_after_migrate(self)
        _label_admin_date_times()


def _install_beat_schedule_after_migrate(app_config) -> None:
    from django.db.models.signals import post_migrate

    from clinic.lib.beat import install_after_migrate

    # Once per migrate (sender: this app), after every app's migrations ran.
    post_migrate.connect(install_after_migrate, sender=app_config,
                         dispatch_uid="clinic.beat_schedule_install")


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
