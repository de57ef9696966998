"""Twilio webhooks: inbound SMS, delivery status callbacks (see CONTRACT.md), and the
voice channel's call answer, keypress and call status (messaging/voice.py)."""

import functools
import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from clinic.audit import acting_as, actor_patient_sms, actor_patient_voice
from messaging import voice
from messaging.forms import (
    InboundSmsForm,
    StatusCallbackForm,
    VoiceWebhookForm,
    form_errors_text,
    message_id_from_query,
    step_from_query,
)
from messaging.models import Message
from messaging.services import inbound_handle, message_status_record

logger = logging.getLogger(__name__)


def twilio_signature_required(view):
    """403 unless X-Twilio-Signature matches PUBLIC_BASE_URL + path (with the query
    string, which Twilio signs too), so a proxy in front (which changes the scheme or
    host Django sees) does not break validation."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        signature = request.headers.get("X-Twilio-Signature", "")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        token = settings.TWILIO_AUTH_TOKEN
        if not (token and signature and RequestValidator(token).validate(
                url, request.POST, signature)):
            logger.warning("Twilio webhook %s refused: bad or missing signature", request.path)
            return HttpResponseForbidden("Invalid Twilio signature.", content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapper


def _posted(form_class, request):
    """(the webhook's cleaned fields, None), or (None, a 400 naming the bad fields)."""
    form = form_class(request.POST)
    if not form.is_valid():
        return None, HttpResponseBadRequest(f"Missing or bad fields: {form_errors_text(form)}",
                                            content_type="text/plain")
    return form.cleaned_data, None


@csrf_exempt
@require_POST
@twilio_signature_required
def inbound_sms(request):
    data, error = _posted(InboundSmsForm, request)
    if error:
        return error
    # Everything this text changes is the patient's doing, by SMS (the audit trail).
    with acting_as(actor_patient_sms(data["From"])):
        reply = inbound_handle(from_number=data["From"], to_number=data["To"],
                               body=data["Body"], sid=data["MessageSid"])
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return HttpResponse(str(twiml), content_type="text/xml")


@csrf_exempt
@require_POST
@twilio_signature_required
def status_callback(request):
    data, error = _posted(StatusCallbackForm, request)
    if error:
        return error
    message_status_record(sid=data["MessageSid"], status=data["MessageStatus"],
                          error_code=data["ErrorCode"],
                          message_id=message_id_from_query(request.GET))
    return HttpResponse(status=204)


def _twiml(turn) -> HttpResponse:
    if turn is None:  # not one of our calls: end it
        response = VoiceResponse()
        response.hangup()
        return HttpResponse(str(response), content_type="text/xml")
    return HttpResponse(voice.twiml(turn, message=Message(pk=turn.call_id)),
                        content_type="text/xml")


@csrf_exempt
@require_POST
@twilio_signature_required
def voice_answer(request):
    """The call was answered (a person, or a machine: AnsweredBy)."""
    data, error = _posted(VoiceWebhookForm, request)
    if error:
        return error
    call_id = message_id_from_query(request.GET)
    with acting_as(actor_patient_voice(request.POST.get("To", ""))):
        turn = voice.voice_call_answered(message_id=call_id, call_sid=data["CallSid"],
                                         answered_by=data["AnsweredBy"])
    return _twiml(turn)


@csrf_exempt
@require_POST
@twilio_signature_required
def voice_gather(request):
    """A key pressed or a word said on the call, or nothing heard (<Redirect>)."""
    data, error = _posted(VoiceWebhookForm, request)
    if error:
        return error
    call_id = message_id_from_query(request.GET)
    # Everything the key changes is the patient's doing, by phone (the audit trail).
    with acting_as(actor_patient_voice(request.POST.get("To", ""))):
        turn = voice.voice_keypress(message_id=call_id, call_sid=data["CallSid"],
                                    step=step_from_query(request.GET), digits=data["Digits"],
                                    speech=data["SpeechResult"])
    return _twiml(turn)


@csrf_exempt
@require_POST
@twilio_signature_required
def voice_status(request):
    data, error = _posted(VoiceWebhookForm, request)
    if error:
        return error
    voice.voice_status_record(message_id=message_id_from_query(request.GET),
                              call_sid=data["CallSid"], call_status=data["CallStatus"],
                              error_code=data["ErrorCode"])
    return HttpResponse(status=204)
