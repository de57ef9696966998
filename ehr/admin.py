from django.contrib import admin, messages
from django.utils import timezone

from ehr.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with `manage.py create_api_key NAME`; the raw key is shown once."""

    list_display = ["name", "created_at", "last_used_at", "revoked_at", "is_active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    # A revoked key stays revoked (revoke with the action; issue a new key instead of
    # un-revoking): revoked_at cannot be edited.
    readonly_fields = ["created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", "created_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        raw_key = obj.set_new_key()
        super().save_model(request, obj, form, change)
        self.message_user(
            request, f"The new key for {obj.name} (shown only now, store it): {raw_key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
