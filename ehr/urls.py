from django.urls import path, re_path

from ehr import views

app_name = "ehr"
urlpatterns = [
    re_path(r"^Appointment/?$", views.appointments, name="appointments"),
    path("Appointment/<str:resource_id>", views.appointment_detail, name="appointment"),
    # Anything else under the API still answers in FHIR (after the key check).
    re_path(r"^.*$", views.not_found, name="not-found"),
]
