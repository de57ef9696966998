from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from waitlist.models import WaitlistEntry


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(SimpleHistoryAdmin):
    list_display = ["patient", "status", "appointment_type", "any_provider", "urgent", "boost",
                    "earliest_date", "latest_date", "added_at", "source"]
    list_filter = ["status", "urgent", "source", "appointment_type", "any_provider", "providers"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone",
                     "ehr_identifier_value"]
    date_hierarchy = "added_at"
    autocomplete_fields = ["patient"]
    filter_horizontal = ["providers"]
    list_select_related = ["patient", "appointment_type"]
    readonly_fields = ["updated_at"]
