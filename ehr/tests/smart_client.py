"""A SMART Backend Services client as a vendor writes one: its own key pair, a signed
assertion per token request, the token as the bearer."""

import json
import time
import uuid
from urllib.parse import urlencode

from django.conf import settings
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

TOKEN_PATH = "/api/fhir/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def key_pair(alg: str = "RS384", kid: str = "key-1"):
    if alg == "ES384":
        return ECKey.generate_key("P-384", {"kid": kid, "alg": alg, "use": "sig"}, private=True)
    return RSAKey.generate_key(2048, {"kid": kid, "alg": alg, "use": "sig"}, private=True)


def public_jwks(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(client_id: str, key, *, alg: str | None = None, aud: str | None = None,
              exp_in: int = 240, jti: str | None = None, kid: str | None = None,
              **claims) -> str:
    alg = alg or key.alg or "RS384"
    payload = {"iss": client_id, "sub": client_id,
               "aud": aud or settings.PUBLIC_BASE_URL + TOKEN_PATH,
               "exp": int(time.time()) + exp_in,
               "jti": str(uuid.uuid4()) if jti is None else jti, **claims}
    return jwt.encode({"alg": alg, "kid": kid or key.kid, "typ": "JWT"}, payload, key,
                      algorithms=[alg])


def token_request(client, signed: str, scope: str = "system/Appointment.write", **overrides):
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed, "scope": scope, **overrides}
    form = {name: value for name, value in form.items() if value is not None}
    return client.post(TOKEN_PATH, urlencode(form),
                       content_type="application/x-www-form-urlencoded")


def write_jwks(path, *keys) -> str:
    path.write_text(json.dumps(public_jwks(*keys)))
    return str(path)
