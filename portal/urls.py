# The portal owns no data: it shows and acts on the other apps' models.
from django.urls import path

from portal import views

app_name = "portal"
urlpatterns = [
    path("", views.today, name="today"),
    path("slots/new/", views.slot_create, name="slot_create"),
    path("slots/<int:slot_id>/withdraw/", views.slot_withdraw, name="slot_withdraw"),
    path("slots/<int:slot_id>/filled-by-phone/", views.slot_mark_filled, name="slot_mark_filled"),
    path("slots/<int:slot_id>/offer-more/", views.slot_offer_more, name="slot_offer_more"),
    path("slots/<int:slot_id>/filled-by-phone/undo/", views.slot_fill_undo,
         name="slot_fill_undo"),
    path("slots/<int:slot_id>/offer-picked/", views.slot_offer_picked,
         name="slot_offer_picked"),
    path("bookings/<int:offer_id>/approve/", views.booking_approve, name="booking_approve"),
    path("bookings/<int:offer_id>/decline/", views.booking_decline, name="booking_decline"),
    path("rules/", views.rules_page, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient"),
    path("patients/<int:patient_id>/offer-channel/", views.patient_offer_channel,
         name="patient_offer_channel"),
    path("reports/", views.reports, name="reports"),
    path("simulator/", views.simulator, name="simulator"),
    path("simulator/call/", views.simulator_call, name="simulator_call"),
    path("signed-out/", views.idle_sign_out, name="idle_sign_out"),
    path("staff/", views.staff, name="staff"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/<int:user_id>/role/", views.staff_set_role, name="staff_set_role"),
    path("staff/<int:user_id>/active/", views.staff_set_active, name="staff_set_active"),
]
