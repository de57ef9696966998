from django.contrib import admin
from django.urls import include, path

from clinic.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("accounts.sign_in_urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("twilio/", include("messaging.urls")),
    path("api/fhir/", include("ehr.urls")),
    path("waitlist/", include("waitlist.urls")),
    path("", include("portal.urls")),
]
