from django.contrib import admin, messages
from django.utils import timezone

from ehr.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made with `manage.py create_api_key NAME` (the raw key is shown only there)."""

    list_display = ["name", "created_at", "last_used_at", "revoked_at", "is_active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    fields = ["name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["created_at", "last_used_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
