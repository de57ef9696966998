from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

# How this session's person gave their second factor: "sso" (their identity provider),
# or a device of theirs under django-otp's own session key.
SECOND_FACTOR_SESSION_KEY = "accounts_second_factor"
SSO = "sso"


def signed_in_with_sso(request) -> bool:
    return request.session.get(SECOND_FACTOR_SESSION_KEY) == SSO


def second_factor_done(request) -> bool:
    """True when this session passed a second factor that still stands: a confirmed
    device of the signed-in user (reset by an admin, it no longer counts), or SSO."""
    user = request.user
    if not user.is_authenticated:
        return False
    if signed_in_with_sso(request):
        return True
    persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed
