from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True  # the admin's config below lives here too
    name = "accounts"
    verbose_name = "Staff sign-in"

    def ready(self):
        from accounts import signals

        signals.connect()


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site class, so every `admin.site.register` in the
    apps lands on a site that asks for the second factor (accounts/admin_site.py)."""

    default = False  # named explicitly in INSTALLED_APPS
    default_site = "accounts.admin_site.StaffAdminSite"
