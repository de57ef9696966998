from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from offers.models import Offer, Slot


class OfferInline(admin.TabularInline):
    model = Offer
    extra = 0
    can_delete = False
    fields = ["patient", "batch", "score", "status", "sent_at", "hold_until", "responded_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Slot)
class SlotAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "start", "end", "appointment_type", "status", "filled_via",
                    "current_batch", "source", "created_at"]
    list_filter = ["status", "source", "filled_via", "provider", "appointment_type", "location"]
    search_fields = ["provider__name", "ehr_identifier_value"]
    date_hierarchy = "start"
    list_select_related = ["provider", "appointment_type"]
    readonly_fields = ["created_at", "updated_at", "closed_at", "current_batch"]
    inlines = [OfferInline]


@admin.register(Offer)
class OfferAdmin(SimpleHistoryAdmin):
    list_display = ["slot", "patient", "batch", "score", "status", "sent_at", "hold_until",
                    "responded_at"]
    list_filter = ["status", "batch"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["slot__provider", "patient"]
    readonly_fields = ["created_at", "updated_at"]
    raw_id_fields = ["slot", "entry", "patient"]
