"""A small OpenID Connect provider for the tests, on 127.0.0.1 (port 0) in a thread.

It speaks the authorization code flow as Entra ID, Okta and Google do, over real HTTP:
discovery, JWKS, the authorization endpoint (a sign-in form, or straight back for the
person `sign_in_as` names), the token endpoint (client secret by HTTP Basic, the code
once, the same redirect URI, PKCE S256), userinfo and end_session. ID tokens are RS256,
signed with joserfc. `id_token_changes` and friends let a test break one thing at a time.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "waitlist-portal"
CLIENT_SECRET = "test-client-secret-0123456789"


@cache
def signing_key(kid: str = "test-key-1") -> RSAKey:
    # Made once per test run: RSA key generation is the slow part.
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Person:
    sub: str
    email: str
    groups: list[str]
    given_name: str = ""
    family_name: str = ""
    preferred_username: str = ""

    def claims(self) -> dict:
        return {"sub": self.sub, "email": self.email, "email_verified": True,
                "groups": self.groups, "given_name": self.given_name,
                "family_name": self.family_name,
                "preferred_username": self.preferred_username or self.email,
                "name": f"{self.given_name} {self.family_name}".strip()}


@dataclass
class TestIdentityProvider:
    __test__ = False  # not a test class, whatever its name

    people: dict[str, Person] = field(default_factory=dict)
    redirect_uris: set[str] = field(default_factory=set)
    # Who the authorization endpoint signs in without showing its form (None: the form).
    sign_in_as: str | None = None
    # Test knobs: claims to change or drop in the next ID tokens, a foreign key, a broken
    # signature, a token that is no JWT at all.
    id_token_changes: dict = field(default_factory=dict)
    sign_with: RSAKey | None = None
    tamper_signature: bool = False
    end_session: bool = True
    # What happened, for assertions.
    authorize_requests: list[dict] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)
    end_session_requests: list[dict] = field(default_factory=list)
    discovery_requests: int = 0

    def __post_init__(self):
        self._codes: dict[str, dict] = {}
        self._access_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="test-idp")

    def start(self) -> TestIdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- what the endpoints do -----------------------------------------------------------

    def discovery(self) -> dict:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }
        if self.end_session:
            document["end_session_endpoint"] = f"{self.issuer}/logout"
        return document

    def issue_code(self, request: dict, username: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {**request, "username": username, "issued": time.time()}
        return code

    def exchange(self, form: dict, authorization: str) -> tuple[int, dict]:
        self.token_requests.append(form)
        if not authorization.startswith("Basic "):
            return 401, {"error": "invalid_client"}
        client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=")
        if challenge.decode() != grant.get("code_challenge"):
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        person = self.people[grant["username"]]
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant["username"]
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600,
                     "id_token": self.id_token(person, nonce=grant.get("nonce"))}

    def id_token(self, person: Person, *, nonce: str | None) -> str:
        now = int(time.time())
        claims = {**person.claims(), "iss": self.issuer, "aud": CLIENT_ID,
                  "iat": now, "exp": now + 300, "nonce": nonce}
        for name, value in self.id_token_changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or signing_key()
        token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        if self.tamper_signature:
            head, body, signature = token.split(".")
            flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
            token = ".".join((head, body, flipped))
        return token

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        username = self._access_tokens.get(authorization.removeprefix("Bearer "))
        if username is None:
            return 401, {"error": "invalid_token"}
        return 200, self.people[username].claims()


def _handler_for(idp: TestIdentityProvider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # keep the test output quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _html(self, body: str) -> None:
            data = f"<!doctype html><html><head><title>Test IdP</title></head><body>{body}" \
                   "</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return None
            if url.path == "/.well-known/openid-configuration":
                idp.discovery_requests += 1
                return self._json(200, idp.discovery())
            if url.path == "/jwks":
                return self._json(200, KeySet([signing_key()]).as_dict(private=False))
            if url.path == "/authorize":
                return self._authorize(query)
            if url.path == "/userinfo":
                return self._json(*idp.userinfo(self.headers.get("Authorization", "")))
            if url.path == "/logout":
                idp.end_session_requests.append(query)
                if query.get("post_logout_redirect_uri"):
                    return self._redirect(query["post_logout_redirect_uri"])
                return self._html("<h1>Signed out of the test provider</h1>")
            return self._json(404, {"error": "not_found"})

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path == "/token":
                return self._json(*idp.exchange(self._form(), self.headers.get(
                    "Authorization", "")))
            if url.path == "/authorize":
                form = self._form()
                request = json.loads(form["request"])
                return self._back(request, form["username"])
            return self._json(404, {"error": "not_found"})

        def _authorize(self, query: dict) -> None:
            idp.authorize_requests.append(query)
            if query.get("client_id") != CLIENT_ID or \
                    query.get("redirect_uri") not in idp.redirect_uris:
                return self._json(400, {"error": "invalid_request"})
            if idp.sign_in_as is not None:
                return self._back(query, idp.sign_in_as)
            options = "".join(f'<option value="{html.escape(name)}">{html.escape(name)}'
                              "</option>" for name in idp.people)
            self._html(
                '<h1>Test identity provider</h1><form method="post" action="/authorize">'
                f'<input type="hidden" name="request" value="{html.escape(json.dumps(query))}">'
                f'<label for="username">Account</label><select id="username" name="username">'
                f"{options}</select><button type=\"submit\">Continue</button></form>")

        def _back(self, request: dict, username: str) -> None:
            code = idp.issue_code(request, username)
            params = {"code": code, "state": request.get("state", "")}
            self._redirect(f"{request['redirect_uri']}?{urlencode(params)}")

    return Handler
