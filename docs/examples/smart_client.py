"""A SMART Backend Services client: sign an assertion with the private key, trade it for an
access token, call the FHIR API with it. Standard library and joserfc only.

    SMART_CLIENT_ID=<what create_smart_client printed> python docs/examples/smart_client.py
"""

import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

BASE = os.environ.get("FHIR_BASE", "http://127.0.0.1:8000/api/fhir")
CLIENT_ID = os.environ["SMART_CLIENT_ID"]
key = RSAKey.import_key(json.loads(Path("private-key.json").read_text()))

# 1. Where to get a token.
with urllib.request.urlopen(f"{BASE}/.well-known/smart-configuration") as response:
    token_url = json.load(response)["token_endpoint"]

# 2. A fresh assertion for every token request: aud is the token endpoint, exp at most
#    five minutes ahead, a jti never used before.
claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": token_url,
          "exp": int(time.time()) + 240, "jti": str(uuid.uuid4())}
assertion = jwt.encode({"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key,
                       algorithms=["RS384"])
form = urllib.parse.urlencode({
    "grant_type": "client_credentials",
    "scope": "system/Appointment.read",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": assertion,
}).encode()
with urllib.request.urlopen(token_url, form) as response:
    token = json.load(response)["access_token"]  # good for expires_in (300) seconds

# 3. The token is the bearer: the slots the system filled, for write-back.
request = urllib.request.Request(f"{BASE}/Appointment?status=booked",
                                 headers={"Authorization": f"Bearer {token}"})
with urllib.request.urlopen(request) as response:
    print("booked slots:", json.load(response)["total"])
