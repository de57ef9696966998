"""The Django admin behind the portal's own sign-in, second factor included.

django-otp's OTPAdminSite asks for a code on the admin's login form; here there is one
sign-in for the whole product (password and code, or single sign-on), so the admin sends
people to it instead of offering a second, weaker door, and lets in only a session whose
second factor was given: a code from the person's device, or their identity provider.
"""

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse

from accounts.selectors import second_factor_done


class StaffAdminSite(admin.AdminSite):
    def has_permission(self, request):
        return super().has_permission(request) and second_factor_done(request)

    def login(self, request, extra_context=None):
        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        if request.method == "GET" and self.has_permission(request):
            return redirect(next_url)
        return redirect_to_login(next_url)
