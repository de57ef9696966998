from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from clinic.models import AppointmentType, Location, Patient, Provider

admin.site.site_header = "Waitlist filler — audit and administration"
admin.site.site_title = "Waitlist filler admin"


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "address"]
    search_fields = ["name", "address"]


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "identifier_system", "identifier_value", "location", "active"]
    list_filter = ["active", "location"]
    search_fields = ["name", "identifier_value"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "duration_minutes"]
    search_fields = ["name", "code"]


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ["full_name", "phone_masked", "preferred_language", "sms_opted_out_at",
                    "phone_invalid_at", "created_at"]
    list_filter = ["preferred_language", ("sms_opted_out_at", admin.EmptyFieldListFilter),
                   ("phone_invalid_at", admin.EmptyFieldListFilter)]
    search_fields = ["first_name", "last_name", "phone"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "updated_at"]
