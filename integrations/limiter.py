"""The rate limit on browser keys: messages per client address, shared through Redis.

A browser key is public, so anyone may send with it; each client address gets
a bucket of SEG_BROWSER_BURST messages that refills at SEG_BROWSER_RATE_LIMIT
a second (GCRA: one Redis key an address, one round trip a request). Server
keys never come here. When Redis cannot be reached the limit is off: the
shop's events are stored without it, and after one failure this process
skips Redis for SEG_PUBLISH_PAUSE, so an outage costs each request nothing
(the same rule as publishing, ``dispatch.py``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from datetime import timedelta
from time import monotonic

import redis
from django.http import HttpRequest
from redis.commands.core import Script

from . import conf

logger = logging.getLogger(__name__)

PREFIX = "seg:browser:"

# GCRA ("generic cell rate algorithm"). KEYS: the address's key. ARGV: ms
# between messages (1000 / rate), burst (messages), cost (messages). The key
# holds the theoretical arrival time in ms. Returns 0 when allowed (and
# charged), else the ms to wait before ``cost`` messages would be allowed.
GCRA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - burst * interval
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return 0
"""

_connections: dict[tuple[int, str], tuple[redis.Redis, Script]] = {}
_off_until = float("-inf")


def _redis() -> tuple[redis.Redis, Script]:
    """This process's client for the Redis of conf.redis_url(), and the script on it.

    Short timeouts: a Redis that does not answer must not hold up the shop.
    Kept per process and URL, so a forked worker or a changed setting gets its own.
    """
    key = (os.getpid(), conf.redis_url())
    if key not in _connections:
        client = redis.Redis.from_url(key[1], socket_connect_timeout=0.25, socket_timeout=0.25)
        _connections[key] = (client, client.register_script(GCRA))
    return _connections[key]


class TooLarge(Exception):
    """One request holds more messages than a bucket does (SEG_BROWSER_BURST)."""


def client_address(request: HttpRequest) -> str:
    """The client's address: the last entry of SEG_CLIENT_IP_HEADER, else REMOTE_ADDR.

    The last entry is the one the shop's own proxy added (earlier ones are
    the client's to write). An IPv6 address stands for its /64, which one
    client holds whole.
    """
    header = conf.get_setting("SEG_CLIENT_IP_HEADER")
    value = request.headers.get(header, "") if header else ""
    address = value.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def charge(address: str, messages: int) -> timedelta | None:
    """Take ``messages`` from ``address``'s bucket: None if allowed, else how long to wait.

    Raises TooLarge when ``messages`` exceeds the burst, which no wait would
    allow. Allowed without Redis while Redis cannot be reached.
    """
    global _off_until
    rate = float(conf.get_setting("SEG_BROWSER_RATE_LIMIT") or 0)
    burst = int(conf.get_setting("SEG_BROWSER_BURST"))
    if rate <= 0 or messages <= 0:
        return None
    if messages > burst:
        raise TooLarge(f"A request with a browser key holds at most {burst} messages.")
    if monotonic() < _off_until:
        return None
    try:
        wait_ms = int(_redis()[1](keys=[PREFIX + address], args=[1000 / rate, burst, messages]))
    except redis.RedisError:
        pause: timedelta = conf.get_setting("SEG_PUBLISH_PAUSE")
        _off_until = monotonic() + pause.total_seconds()
        logger.warning(
            "Rate limit unavailable (Redis); browser keys unlimited for %gs.",
            pause.total_seconds(),
            exc_info=True,
        )
        return None
    return timedelta(milliseconds=wait_ms) if wait_ms > 0 else None


def retry_after(wait: timedelta) -> str:
    """A ``Retry-After`` value in whole seconds, at least 1."""
    return str(max(math.ceil(wait.total_seconds()), 1))


def resume() -> None:
    """Use Redis again from the next request, even within a pause after a failure."""
    global _off_until
    _off_until = float("-inf")


def reset() -> None:
    """Forget every bucket (for tests and operators)."""
    r = _redis()[0]
    for key in r.scan_iter(PREFIX + "*", count=1000):
        r.delete(key)
