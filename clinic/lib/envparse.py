"""Strict parsing of environment values: a bad value stops start-up with a clear message."""

import datetime as dt
import ipaddress
import os
import re
import zoneinfo

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
