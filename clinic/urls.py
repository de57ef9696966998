from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from clinic.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", accounts_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", accounts_views.sign_out, name="logout"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("twilio/", include("messaging.urls")),
    path("api/fhir/", include("ehr.urls")),
    path("waitlist/", include("waitlist.urls")),
    path("", include("portal.urls")),
]
