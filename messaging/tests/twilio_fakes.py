"""Twilio, faked at the HTTP layer: the real SDK builds and sends its real requests through
a TwilioHttpClient whose requests session has a fake transport mounted. Tests script the
answers and assert on what was sent. Also: correctly signed webhook posts."""

import contextlib
import json
import urllib.parse
from itertools import count

import pytest
import requests
from django.test import override_settings
from requests.adapters import BaseAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM_NUMBER = "+13125550100"
PUBLIC_BASE_URL = "https://clinic.example.org"

_sids = count(1)


class FakeTwilioTransport(BaseAdapter):
    """Answers the SDK's requests from a script; by default a created message."""

    def __init__(self):
        super().__init__()
        self.requests: list[requests.PreparedRequest] = []
        self.script: list = []

    def answer_next(self, *answers):
        """Each answer: (status, json dict) or an exception to raise (network trouble)."""
        self.script.extend(answers)

    def send(self, request, **kwargs):
        self.requests.append(request)
        answer = self.script.pop(0) if self.script else None
        if isinstance(answer, Exception):
            raise answer
        if answer is None and request.url.endswith("/Calls.json"):
            form = self.form(request)
            answer = (201, {"sid": f"CA{next(_sids):032x}", "status": "queued",
                            "to": form.get("To"), "from": form.get("From"),
                            "account_sid": ACCOUNT_SID})
        if answer is None:
            form = self.form(request)
            answer = (201, {"sid": f"SM{next(_sids):032x}", "status": "queued",
                            "to": form.get("To"), "from": form.get("From"),
                            "body": form.get("Body"), "account_sid": ACCOUNT_SID})
        status, payload = answer
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass

    @staticmethod
    def form(request) -> dict:
        return dict(urllib.parse.parse_qsl(request.body or ""))

    @property
    def sent(self) -> list[dict]:
        """The messages sent (Messages API)."""
        return [self.form(request) for request in self.requests
                if request.url.endswith("/Messages.json")]

    @property
    def calls(self) -> list[dict]:
        """The calls placed (Calls API)."""
        return [self.form(request) for request in self.requests
                if request.url.endswith("/Calls.json")]


def twilio_error(code: int, status: int = 400) -> tuple[int, dict]:
    return status, {"code": code, "message": f"Twilio error {code}", "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}


@contextlib.contextmanager
def faked_twilio(monkeypatch):
    """SMS_BACKEND=twilio with test credentials; the SDK talks to a fake transport."""
    transport = FakeTwilioTransport()

    def http_client():
        client = TwilioHttpClient(timeout=10)
        client.session.mount("https://", transport)
        return client

    monkeypatch.setattr("messaging.backends.twilio_http_client", http_client)
    with override_settings(SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                           TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
                           PUBLIC_BASE_URL=PUBLIC_BASE_URL):
        yield transport


@pytest.fixture
def fake_twilio(monkeypatch):
    with faked_twilio(monkeypatch) as transport:
        yield transport


def twilio_post(client, path: str, params: dict, *, token: str = AUTH_TOKEN,
                signature: str | None = None):
    """POST like Twilio does: form-encoded, signed over PUBLIC_BASE_URL + path."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return client.post(path, params, **headers)
