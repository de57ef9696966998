from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("twilio/", include("messaging.urls")),
    path("api/fhir/", include("ehr.urls")),
    path("waitlist/", include("waitlist.urls")),
    path("", include("portal.urls")),
]
