"""Twilio webhooks. Implemented by the SMS channel issue."""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def inbound_sms(request):
    return HttpResponse("Not implemented yet", status=501)


@csrf_exempt
@require_POST
def status_callback(request):
    return HttpResponse("Not implemented yet", status=501)
