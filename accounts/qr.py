"""The authenticator set-up QR code, as inline SVG: no image request, nothing the
Content-Security-Policy has to allow, sharp at any zoom."""

from base64 import b32encode

import segno
from django.utils.safestring import SafeString, mark_safe


def svg(otpauth_url: str) -> SafeString:
    code = segno.make(otpauth_url, error="m")
    # segno writes only paths and attributes of its own (no style, no script).
    return mark_safe(code.svg_inline(scale=5, border=2, svgclass="qr", lineclass=None,  # noqa: S308
                                     dark="#000", light="#fff"))


def secret_text(key: bytes) -> str:
    """The secret as people type it into an app: base32 in groups of four."""
    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))
