"""The rate limit on browser keys: messages per client address, shared through Redis.

A browser key is public, so anyone may send with it; each client address gets
a bucket of SEG_BROWSER_BURST messages that refills at SEG_BROWSER_RATE_LIMIT
a second (GCRA: one Redis key an address). Every request costs at least one
message, whatever becomes of it: its share is taken before its body is read
where the key allows, and the rest once its messages are counted (one round
trip for a request of one message, two for a larger batch). Server keys never
come here. When Redis cannot be reached the limit is off: the
shop's events are stored without it, and after one failure this process
skips Redis for SEG_PUBLISH_PAUSE, so an outage costs each request nothing
(the same rule as publishing, ``lifecycle.wakeups``).
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

from .. import conf
from ..exceptions import PayloadTooLarge

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


# Where the client's address cannot be read at all: one bucket for all such.
UNREADABLE = "unreadable"


def client_address(request: HttpRequest) -> str:
    """The bucket of the request's client: its address, as SEG_CLIENT_IP_HEADER's last
    entry gives it, else REMOTE_ADDR.

    The last entry is the one the shop's own proxy added (earlier ones are
    the client's to write). It is read as proxies write it: ``ip``,
    ``ip:port``, ``[ipv6]``, ``[ipv6]:port``, quoted or not; with the header
    ``Forwarded`` (RFC 7239), the ``for=`` of its last element. A port never
    makes a bucket of its own. A value that names no address (junk,
    ``unknown``, an obfuscated ``_node``) counts as REMOTE_ADDR, the proxy's,
    so such requests share one bucket; where REMOTE_ADDR is no address either,
    they share UNREADABLE. An IPv6 address stands for its /64, which one
    client holds whole.
    """
    header = conf.get_setting("SEG_CLIENT_IP_HEADER")
    value = request.headers.get(header, "") if header else ""
    entry = value.split(",")[-1]
    if header and header.lower() == "forwarded":
        entry = _forwarded_for(entry)
    ip = _ip(entry) or _ip(request.META.get("REMOTE_ADDR", ""))
    if ip is None:
        return UNREADABLE
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def _forwarded_for(element: str) -> str:
    """The ``for=`` value of one element of a ``Forwarded`` header; empty when it has none."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value
    return ""


def _ip(written: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``written`` (quotes, brackets, a port and an IPv6 zone taken off),
    or None when it names none."""
    text = written.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port; IPv6 has two colons at least
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None


def charge(address: str, messages: int, paid: int = 0) -> timedelta | None:
    """Charge a request of ``messages`` to ``address``'s bucket: None if allowed, else
    how long to wait.

    ``paid`` is what was already taken for this request (its share up front,
    before its body was read); the rest, ``messages - paid``, is taken now.
    Raises PayloadTooLarge when ``messages`` exceeds the burst, which no wait would
    allow. Allowed without Redis while Redis cannot be reached.
    """
    global _off_until
    rate = float(conf.get_setting("SEG_BROWSER_RATE_LIMIT") or 0)
    burst = int(conf.get_setting("SEG_BROWSER_BURST"))
    cost = messages - paid
    if rate <= 0:
        return None
    if messages > burst:
        raise PayloadTooLarge(f"A request with a browser key holds at most {burst} messages.")
    if cost <= 0 or monotonic() < _off_until:
        return None
    try:
        wait_ms = int(_redis()[1](keys=[PREFIX + address], args=[1000 / rate, burst, cost]))
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
