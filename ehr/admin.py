from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from clinic.lib.admin import ReadOnlyAdminMixin
from ehr import smart
from ehr.models import ApiKey, Hl7Message, SmartClient, SmartToken


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here or with `manage.py create_api_key NAME`; the raw key is shown once."""

    list_display = ["name", "created_at", "last_used_at", "revoked_at", "is_active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    # A revoked key stays revoked (revoke with the action; issue a new key instead of
    # un-revoking): revoked_at cannot be edited.
    readonly_fields = ["created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name"]
        return ["name", "created_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        raw_key = obj.set_new_key()
        super().save_model(request, obj, form, change)
        self.message_user(
            request, f"The new key for {obj.name} (shown only now, store it): {raw_key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class SmartClientForm(forms.ModelForm):
    jwks = forms.JSONField(required=False, label="JWK Set", widget=forms.Textarea(
        attrs={"rows": 8, "cols": 80}), help_text='The client\'s public keys, {"keys": [...]}; '
        "or leave empty and give its JWKS URL.")

    jwks_url = forms.URLField(required=False, assume_scheme="https", label="JWKS URL",
                              help_text="Or where the client publishes its keys (https).")

    class Meta:
        model = SmartClient
        fields = ["name", "jwks", "jwks_url", "scopes", "revoked_at"]

    def clean_jwks(self):
        jwks = self.cleaned_data["jwks"]
        if jwks in (None, "", {}):
            return None
        try:
            return smart.jwks_check(jwks)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_jwks_url(self):
        url = self.cleaned_data["jwks_url"]
        if url and not url.startswith("https://"):
            raise forms.ValidationError("The JWKS URL must be https://.")
        return url

    def clean_scopes(self):
        try:
            return smart.scopes_check(self.cleaned_data["scopes"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("jwks") and not cleaned.get("jwks_url") and not self.errors:
            raise forms.ValidationError("Give the client's JWK Set or its JWKS URL.")
        return cleaned


@admin.register(SmartClient)
class SmartClientAdmin(admin.ModelAdmin):
    """SMART Backend Services clients (also `manage.py create_smart_client`)."""

    form = SmartClientForm
    list_display = ["name", "client_id", "scopes", "last_token_at", "is_active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "client_id"]
    readonly_fields = ["client_id", "created_at", "last_token_at"]
    actions = ["revoke_clients"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    @admin.action(description="Revoke the selected clients (their tokens stop working)")
    def revoke_clients(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} client(s).", messages.SUCCESS)


@admin.register(SmartToken)
class SmartTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every access token issued: to whom, for what, from where, and when last used."""

    list_display = ["issued_at", "client", "scopes", "expires_at", "last_used_at", "peer"]
    list_filter = ["client"]
    search_fields = ["client__name", "assertion_jti", "peer"]
    date_hierarchy = "issued_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "hashed_token"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)


@admin.register(Hl7Message)
class Hl7MessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The HL7 feed's log: every readable message and the ACK it got."""

    list_display = ["received_at", "message_type", "control_id", "sender", "ack_code",
                    "short_outcome", "repeats"]
    list_filter = ["ack_code", "message_type", "sending_application"]
    search_fields = ["control_id", "outcome"]
    date_hierarchy = "received_at"

    @admin.display(description="sender")
    def sender(self, obj):
        return "/".join(part for part in (obj.sending_application, obj.sending_facility) if part)

    @admin.display(description="outcome")
    def short_outcome(self, obj):
        return obj.outcome[:100]
