"""The address a request came from, as the login lockout (django-axes) counts it."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """In production exactly one reverse proxy stands in front of gunicorn
    (docs/operations.md), so REMOTE_ADDR is always the proxy's. The proxy appends the
    address it saw to X-Forwarded-For: that last hop is the one entry a client cannot
    forge (anything before it is whatever the client sent). Without the header, or in
    development (DEBUG, no proxy), REMOTE_ADDR is the client."""
    remote_addr = request.META.get("REMOTE_ADDR")
    if settings.DEBUG:
        return remote_addr
    last_hop = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last_hop))
    except ValueError:
        return remote_addr
