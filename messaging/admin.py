from django.contrib import admin

from messaging.models import Message, MessageStatusEvent


class StatusEventInline(admin.TabularInline):
    model = MessageStatusEvent
    extra = 0
    can_delete = False
    readonly_fields = ["status", "error_code", "at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The message log is evidence: it can be read and searched, never edited or deleted."""

    list_display = ["created_at", "direction", "kind", "patient", "offer", "to_number",
                    "from_number", "status", "error_code", "attempts", "twilio_sid"]
    list_filter = ["direction", "status", "kind", "error_code"]
    search_fields = ["twilio_sid", "from_number", "to_number", "patient__last_name"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "offer__slot__provider", "offer__patient"]
    inlines = [StatusEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
