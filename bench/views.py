"""The baseline the inbound webhook is compared with: the least a signed Twilio webhook
can do in this stack. It checks the X-Twilio-Signature exactly as the real webhook must
(the twilio SDK's RequestValidator, PUBLIC_BASE_URL + path), inserts one row in the
message log, and answers empty TwiML. Everything the real webhook does beyond that
(understanding the reply, claiming or declining an offer, answering the patient) is what
the webhook-to-baseline ratio measures.

Routed only by bench/urls.py, which only bench/settings.py uses.
"""

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging.models import Message

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def baseline_sms(request):
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    url = settings.PUBLIC_BASE_URL + request.path
    if not validator.validate(url, request.POST, request.headers.get("X-Twilio-Signature", "")):
        return HttpResponseForbidden("Invalid signature.")
    Message.objects.create(
        direction=Message.Direction.IN,
        from_number=request.POST.get("From", ""),
        to_number=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
        twilio_sid=request.POST.get("MessageSid") or None,
        status=Message.Status.RECEIVED,
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
