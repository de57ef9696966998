from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from messaging.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The message log is evidence: it can be read and searched, never edited or deleted."""

    list_display = ["created_at", "direction", "kind", "patient", "offer", "to_number",
                    "from_number", "status", "error_code", "attempts", "twilio_sid"]
    list_filter = ["direction", "status", "kind", "error_code"]
    search_fields = ["twilio_sid", "from_number", "to_number", "patient__last_name"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "offer__slot__provider", "offer__patient"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["status_history"]

    @admin.display(description="Status history")
    def status_history(self, obj):
        # The first line is the message's recording (its row); the rest are its events.
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (status, error_code or "", f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S}")
            for status, error_code, at in obj.status_history()))
        return format_html("<table><tr><th>status</th><th>error</th><th>at</th></tr>{}</table>",
                           rows)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
