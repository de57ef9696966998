from django.conf import settings


def clinic(request):
    return {
        "clinic_name": settings.CLINIC_NAME,
        "sms_backend": settings.SMS_BACKEND,
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
    }
