from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinic.lib.admin import ReadOnlyAdminMixin
from clinic.lib.phones import mask_phone
from messaging.models import Message, MessageStatusEvent, OptedOutNumber


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The message log is evidence: read and searched, never changed from the admin."""


class ErrorCodeFilter(admin.SimpleListFilter):
    """Twilio's error codes seen, and "No error": Django's plain field filter would offer
    the blank code as a link without a name."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        codes = (Message.objects.exclude(error_code="").order_by("error_code")
                 .values_list("error_code", flat=True).distinct())
        return [("none", "No error"), *((code, code) for code in codes)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(error_code="")
        if self.value():
            return queryset.filter(error_code=self.value())
        return queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The message log is evidence: it can be read and searched, never edited or deleted."""

    list_display = ["created_at", "direction", "channel", "kind", "patient", "about", "to_number",
                    "from_number", "status", "error_code", "attempts", "twilio_sid"]
    list_filter = ["direction", "channel", "status", "kind", ErrorCodeFilter]
    search_fields = ["twilio_sid", "from_number", "to_number", "patient__last_name"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "subject_type"]

    @admin.display(description="About", ordering="subject_id")
    def about(self, obj):
        # What the sender said the message is about, named without loading it (one query
        # for the whole list): "offer #12".
        if obj.subject_type_id is None:
            return "—"
        return f"{obj.subject_type.model} #{obj.subject_id}"

    def get_readonly_fields(self, request, obj=None):
        return super().get_readonly_fields(request, obj) + ["status_history"]

    @admin.display(description="Status history")
    def status_history(self, obj):
        # The first line is the message's recording (its row); the rest are its events.
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (status, error_code or "", f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S}")
            for status, error_code, at in obj.status_history()))
        return format_html("<table><tr><th>status</th><th>error</th><th>at</th></tr>{}</table>",
                           rows)


@admin.register(MessageStatusEvent)
class MessageStatusEventAdmin(ReadOnlyAdmin):
    """Each delivery report on its own, e.g. every 30003 of a week."""

    list_display = ["at", "message", "status", "error_code"]
    list_filter = ["status", "error_code"]
    search_fields = ["message__twilio_sid"]
    date_hierarchy = "at"
    list_select_related = ["message"]


@admin.register(OptedOutNumber)
class OptedOutNumberAdmin(ReadOnlyAdmin):
    """Numbers that texted STOP while no patient had them. Only the number's own START
    removes one: the opt-out is the texter's decision, not the clinic's."""

    list_display = ["masked_phone", "at"]
    search_fields = ["phone"]
    date_hierarchy = "at"

    @admin.display(description="phone", ordering="phone")
    def masked_phone(self, obj):
        return mask_phone(obj.phone)
