from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q

from accounts.models import SsoIdentity
from accounts.services import two_factor_reset
from clinic import roles


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Read-only: identities are made and kept by single sign-on itself."""

    list_display = ["user", "subject", "issuer", "created_at", "last_sign_in_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class StaffUserAdmin(UserAdmin):
    """Managers add colleagues and reset their passwords; only a superuser hands out the
    powers above a manager's (superuser, single permissions, the Admin role), so nobody
    can promote themselves or take over an administrator's account."""

    actions = ["two_factor_reset"]

    def _is_limited(self, request) -> bool:
        return not request.user.is_superuser

    @admin.action(description="Reset two-factor (lost phone): set up again at next sign-in")
    def two_factor_reset(self, request, queryset):
        for user in queryset:
            two_factor_reset(user=user, by=request.user)
        self.message_user(request, f"Two-factor reset for {queryset.count()} staff member(s).")

    def get_actions(self, request):
        # A manager who could reset a colleague's second factor (and set their password)
        # could take over their account: only a superuser resets it.
        actions = super().get_actions(request)
        if self._is_limited(request):
            actions.pop("two_factor_reset", None)
        return actions

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._is_limited(request):
            queryset = queryset.exclude(Q(is_superuser=True) | Q(groups__name=roles.ADMIN))
        return queryset

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._is_limited(request):
            return fieldsets
        hidden = {"is_superuser", "user_permissions"}
        return [(name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
                for name, options in fieldsets]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and self._is_limited(request):
            kwargs["queryset"] = Group.objects.exclude(name=roles.ADMIN)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
