"""Strict parsing of environment values: a bad value stops start-up with a clear message."""

import datetime as dt
import ipaddress
import os
import re
import zoneinfo
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name}={value} must be between {minimum} and {maximum}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} must be one of: {', '.join(choices)}.")
    return value


def env_time_zone(name: str, default: str) -> str:
    value = (os.environ.get(name) or default).strip()
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a time zone name such as America/Chicago."
        ) from None
    return value


def parse_send_hours(name: str, default: str) -> tuple[dt.time, dt.time | None]:
    """'08:00-20:00' -> (08:00, 20:00). The end may be 24:00, returned as None (midnight)."""
    raw = (os.environ.get(name) or default).strip()
    try:
        start_text, end_text = (part.strip() for part in raw.split("-"))
        start = dt.time.fromisoformat(start_text)
        end = None if end_text == "24:00" else dt.time.fromisoformat(end_text)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} must look like 08:00-20:00 (or 00:00-24:00 for always)."
        ) from None
    if end is not None and end <= start:
        raise ImproperlyConfigured(f"{name}={raw!r}: the end must be after the start.")
    return start, end


def env_host(name: str, default: str) -> str:
    """An address to listen on: an IP address or a host name, no port or scheme."""
    value = (os.environ.get(name) or default).strip()
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if not value or len(value) > 253 or not all(
            re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels):
        raise ImproperlyConfigured(
            f"{name}={value!r} must be an IP address (e.g. 0.0.0.0) or a host name, "
            "without a port.")
    return value


def env_code_map(name: str) -> dict[str, str]:
    """'FUP=follow-up, NEW=new-patient' -> {'FUP': 'follow-up', 'NEW': 'new-patient'}."""
    raw = (os.environ.get(name) or "").strip()
    mapping: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        source, equals, target = (text.strip() for text in pair.partition("="))
        if not equals or not source or not re.fullmatch(r"[-a-zA-Z0-9_]+", target):
            raise ImproperlyConfigured(
                f"{name}: {pair!r} must look like THEIRCODE=our-code (pairs separated by commas).")
        if source.upper() in mapping:
            raise ImproperlyConfigured(f"{name}: {source!r} is mapped twice.")
        mapping[source.upper()] = target
    return mapping


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """'10.20.0.5, 10.30.0.0/24' -> networks; empty means no restriction."""
    raw = (os.environ.get(name) or "").strip()
    networks = []
    for part in filter(None, (text.strip() for text in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {part!r} is not an IP address or network (e.g. 10.20.0.0/24).") from None
    return networks


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def url_is_safe_for_credentials(url: str) -> bool:
    """https, or plain http only to this machine (loopback never leaves it; RFC 8252 §7.3
    allows the same for native apps). Anything else would send secrets in the clear."""
    parts = urlsplit(url)
    if not parts.netloc:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def env_secure_url(name: str) -> str:
    """An optional URL that secrets travel to: https:// (http:// only on loopback)."""
    value = (os.environ.get(name) or "").strip()
    if value and not url_is_safe_for_credentials(value):
        raise ImproperlyConfigured(
            f"{name}={value!r} must be an https:// address (plain http:// only on 127.0.0.1).")
    return value


def env_pairs(name: str, *, values: dict[str, str]) -> dict[str, str]:
    """'a=x, b=y' -> {'a': values['x'], 'b': values['y']}: each right-hand side must be one
    of `values`' keys. The left side may hold spaces (group names); it is split at the last
    '=', since group ids never contain one but a name might."""
    raw = (os.environ.get(name) or "").strip()
    pairs: dict[str, str] = {}
    if not raw:
        return pairs
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        left, sep, right = item.rpartition("=")
        left, right = left.strip(), right.strip().lower()
        if not sep or not left:
            raise ImproperlyConfigured(
                f"{name}: {item!r} must look like VALUE=ROLE (for example waitlist-managers=manager).")
        if right not in values:
            raise ImproperlyConfigured(
                f"{name}: {item!r} names the role {right!r}; use one of: {', '.join(values)}.")
        if left in pairs and pairs[left] != values[right]:
            raise ImproperlyConfigured(f"{name}: {left!r} is mapped twice, to different roles.")
        pairs[left] = values[right]
    return pairs
