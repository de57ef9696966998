from django.urls import path, re_path

from ehr import smart_views, views

app_name = "ehr"
urlpatterns = [
    # Public: what a client reads before it has a token, and where it gets one.
    path(".well-known/smart-configuration", smart_views.smart_configuration,
         name="smart-configuration"),
    path("auth/token", smart_views.token, name="smart-token"),
    path("metadata", views.metadata, name="metadata"),
    re_path(r"^Appointment/?$", views.appointments, name="appointments"),
    path("Appointment/<str:resource_id>", views.appointment_detail, name="appointment"),
    # Anything else under the API still answers in FHIR (after the key check).
    re_path(r"^.*$", views.not_found, name="not-found"),
]
