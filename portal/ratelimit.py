"""Counting what people do, shared by every process, to hold abuse back.

Fixed-window counters: in Redis when a Redis cache is configured
(``CACHE_URL``), otherwise in a PostgreSQL table updated with one atomic
upsert. Keys are HMACs of what they count (an IP address, an e-mail
address), so the counters hold no personal data.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.utils.crypto import salted_hmac

from portal.rates import Rate


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
    if not settings.RATE_LIMITS_ENABLED or not identity:
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
    """The client's address: REMOTE_ADDR, or the address the trusted proxies
    in front of us saw (``TRUSTED_PROXY_COUNT``)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                     if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
