from django.conf import settings
from django.db import models


class SsoIdentity(models.Model):
    """Who a staff account is at the identity provider: the issuer and its `sub`, the one
    identifier OpenID Connect promises never to reuse. Accounts are found by this pair,
    never by e-mail or name, which a provider may let people change (or reuse)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField("subject (sub)", max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"],
                                               name="sso_identity_unique_subject")]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
