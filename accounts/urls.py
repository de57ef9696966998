from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/emergency/", views.SignInView.as_view(emergency=True), name="emergency_login"),
    path("signed-out/", views.signed_out, name="signed_out"),
    path("two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    # The redirect URI to register at the identity provider: PUBLIC_BASE_URL + this path.
    path("sso/start/", views.SsoStartView.as_view(), name="sso_start"),
    path("sso/callback/", views.SsoCallbackView.as_view(), name="sso_callback"),
]
