"""Counting what people do, shared by every process, to hold abuse back.

Fixed-window counters: in Redis when a Redis cache is configured
(``CACHE_URL``), otherwise in a PostgreSQL table updated with one atomic
upsert. Keys are HMACs of what they count (an IP address, an e-mail
address), so the counters hold no personal data.

What counts as one client and one address is decided here, so that the
limits cannot be walked around: an IPv6 client is its /64 (one subscriber
gets a whole /64), a missing client address is one shared client (never
"no limit"), and an address is counted without its ``+tag`` (and without
dots for Gmail).
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.utils.crypto import salted_hmac

from portal.rates import Rate

logger = logging.getLogger(__name__)

#: Every request without a client address counts as this one client.
UNKNOWN_CLIENT = "unknown-client"
#: Providers that ignore dots in the local part.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_warned_unknown_client = False


class RateLimited(Exception):
    def __init__(self, message, retry_after: int):
        super().__init__(str(message))
        self.message = message
        self.retry_after = retry_after


def _key(scope: str, identity: str) -> str:
    digest = salted_hmac("portal.ratelimit", f"{scope}:{identity}", algorithm="sha256")
    return f"rl:{scope}:{digest.hexdigest()[:32]}"


def count_hit(scope: str, identity: str, rate: Rate) -> tuple[int, int]:
    """Count one hit; return (hits in the current window, seconds left)."""
    key = _key(scope, identity)
    if settings.RATE_LIMIT_STORE == "cache":
        cache = caches["default"]
        cache.add(key, 0, timeout=rate.window)
        try:
            return cache.incr(key), rate.window
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=rate.window)
            return 1, rate.window
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO portal_ratecounter (key, window_ends, hits)
            VALUES (%s, now() + make_interval(secs => %s), 1)
            ON CONFLICT (key) DO UPDATE SET
                hits = CASE WHEN portal_ratecounter.window_ends <= now() THEN 1
                            ELSE portal_ratecounter.hits + 1 END,
                window_ends = CASE WHEN portal_ratecounter.window_ends <= now()
                                   THEN EXCLUDED.window_ends
                                   ELSE portal_ratecounter.window_ends END
            RETURNING hits, GREATEST(1, CEIL(EXTRACT(EPOCH FROM window_ends - now())))::int
            """,
            [key, rate.window],
        )
        hits, seconds_left = cursor.fetchone()
    return hits, seconds_left


def enforce(scope: str, identity: str, rate: Rate, message) -> None:
    """Count a hit and raise :class:`RateLimited` once over the limit."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    hits, seconds_left = count_hit(scope, identity, rate)
    if hits > rate.limit:
        raise RateLimited(message, retry_after=seconds_left)


def purge_expired_counters() -> int:
    if settings.RATE_LIMIT_STORE == "cache":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM portal_ratecounter WHERE window_ends <= now()")
        return cursor.rowcount


def client_ip(request) -> str:
    """The client as the limits count it (:func:`client_identity`) of
    REMOTE_ADDR, or of the address the trusted proxies in front of us saw
    (``TRUSTED_PROXY_COUNT``)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    address = request.META.get("REMOTE_ADDR", "")
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                     if p.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    return client_identity(address)


def client_identity(address: str | None) -> str:
    """One client for the limits: an IPv4 address; an IPv6 address's /64
    network (an IPv4-mapped one is its IPv4 address); and for a missing
    address (gunicorn on a Unix socket without a proxy header) one shared
    client, with a warning in the log the first time."""
    global _warned_unknown_client
    address = (address or "").strip()
    if not address:
        if not _warned_unknown_client:
            _warned_unknown_client = True
            logger.warning("requests arrive without a client address (a Unix socket without "
                           "TRUSTED_PROXY_COUNT?): all of them share one set of abuse limits")
        return UNKNOWN_CLIENT
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def address_identity(email: str) -> str:
    """One person's address for the limits: lower case, the ``+tag`` of the
    local part removed, and for Gmail (which ignores dots) the dots too."""
    address = (email or "").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return address
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"
