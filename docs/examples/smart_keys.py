"""Make a SMART Backend Services key pair: private-key.json stays with the client,
jwks.json (the public half) is what `manage.py create_smart_client --jwks` registers."""

import json
from pathlib import Path

from joserfc.jwk import RSAKey

key = RSAKey.generate_key(2048, {"kid": "backend-1", "alg": "RS384", "use": "sig"}, private=True)
private = Path("private-key.json")
private.write_text(json.dumps(key.as_dict(private=True)))
private.chmod(0o600)
Path("jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}, indent=2))
print("Wrote private-key.json (keep it secret) and jwks.json (register it).")
