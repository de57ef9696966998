"""The sign-in and sign-out pages, under the names Django's auth looks for ("login",
"logout"; LOGIN_URL), outside the accounts: namespace of accounts/urls.py."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.sign_out, name="logout"),
]
