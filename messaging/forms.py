"""Twilio's webhook form fields (https://www.twilio.com/docs/messaging/guides/webhook-request)."""

from django import forms


class InboundSmsForm(forms.Form):
    From = forms.CharField(max_length=40)
    To = forms.CharField(max_length=40)
    MessageSid = forms.CharField(max_length=64)
    # Twilio always sends Body, empty for a picture-only message; no length limit here,
    # a long text is still logged and answered.
    Body = forms.CharField(required=False, strip=False)


class StatusCallbackForm(forms.Form):
    MessageSid = forms.CharField(max_length=64)
    MessageStatus = forms.CharField(max_length=20)
    ErrorCode = forms.CharField(max_length=10, required=False)


def message_id_from_query(query) -> int | None:
    """The `m` our StatusCallback URL carries (see backends.status_callback_url); None
    when absent, as in callbacks for messages sent before it existed."""
    value = query.get("m", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def form_errors_text(form: forms.Form) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


class VoiceWebhookForm(forms.Form):
    """Twilio's voice webhook fields (https://www.twilio.com/docs/voice/twiml#request-parameters):
    every request names the call; the answer carries AnsweredBy (machine detection), a
    <Gather> Digits or SpeechResult, a status callback CallStatus."""

    CallSid = forms.CharField(max_length=40)
    AnsweredBy = forms.CharField(max_length=30, required=False)
    Digits = forms.CharField(max_length=10, required=False)
    SpeechResult = forms.CharField(max_length=500, required=False, strip=False)
    CallStatus = forms.CharField(max_length=20, required=False)
    ErrorCode = forms.CharField(max_length=10, required=False)


def step_from_query(query) -> int:
    value = query.get("step", "")
    return min(int(value), 9) if value.isdigit() and len(value) < 3 else 1
