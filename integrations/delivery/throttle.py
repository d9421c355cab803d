"""Back-pressure shared by every worker through Redis: a rate cap, a pause when
Seg asks to slow down, and a circuit breaker when Seg keeps failing.

``gate`` runs before every POST; ``report`` after it. When Redis cannot be
reached the gate stays open: the worker got its task from Redis, so this only
happens in a brief outage, and the row still guards against double delivery.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import redis

from .. import conf
from ..core import Verdict, per_process

logger = logging.getLogger(__name__)

PREFIX = "seg:throttle:"
BUCKET, PAUSE, FAILURES, OPEN, PROBE, BROWSER_BUCKET = (
    PREFIX + name for name in ("bucket", "pause", "failures", "open", "probe", "browser")
)

# Returns {reason, ms to wait, calm}: reason 0 goes ahead now, 1 waits for the
# rate cap, 2 for a pause Seg asked for, 3 for the open circuit. calm is 1 when
# nothing holds workers back (no cap, no pause, the circuit closed, no failure
# counted): the caller may go ahead for a while without asking (SEG_THROTTLE_REFRESH).
# ARGV[4] '1' first reports a 2xx the caller has not reported yet (what report
# does for one). A post of a page's event also needs a token of the pages' own
# bucket (ARGV[5] a second, 0 for none): both or neither are taken, so pages
# never use more than their share, and the server's events the rest or all.
# KEYS: bucket, pause, open, probe, failures, pages' bucket. ARGV: rate per
# second, burst, probe lease ms, a 2xx to report, the pages' rate.
GATE = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[3], KEYS[5]) > 0 then
  redis.call('DEL', KEYS[5], KEYS[3], KEYS[4])
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local open = redis.call('EXISTS', KEYS[3]) == 1
if pause > now then
  if open then return {3, pause - now} end
  return {2, pause - now}
end
if open then
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[3]) then return {3, 1000} end
  return {0, 0}
end
local rate = tonumber(ARGV[1])
if rate <= 0 then
  if redis.call('EXISTS', KEYS[5]) == 1 then return {0, 0, 0} end
  return {0, 0, 1}
end
local burst = tonumber(ARGV[2])
local function level(key, r, b)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or b
  local ts = tonumber(state[2]) or now
  return math.min(b, tokens + (now - ts) * r / 1000)
end
local tokens = level(KEYS[1], rate, burst)
local share = tonumber(ARGV[5])
local mine = nil
local wait = 0
if share > 0 then
  mine = level(KEYS[6], share, math.max(share, 1))
  if mine < 1 then wait = math.ceil((1 - mine) * 1000 / share) end
end
if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate)) end
if wait == 0 then
  tokens = tokens - 1
  if mine then mine = mine - 1 end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
if mine then
  redis.call('HSET', KEYS[6], 'tokens', tostring(mine), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[6], 60000)
end
if wait > 0 then return {1, wait} end
return {0, 0}
"""


class Reason(StrEnum):
    """Why the gate is shut (the GATE script's codes 1, 2, 3), or why a batch stops."""

    RATE = "rate"
    PAUSED = "paused"
    CIRCUIT_OPEN = "circuit open"
    LEASE_RUNNING_OUT = "lease running out"
    SLICE = "a page's task gives its process back"
    IN_LINE = "an earlier event of the customer is retried"


REASONS = {1: Reason.RATE, 2: Reason.PAUSED, 3: Reason.CIRCUIT_OPEN}

# KEYS: pause. ARGV: ms to pause. Never shortens a longer pause.
PAUSE_FOR = """
local t = redis.call('TIME')
local until_ms = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1] + 1000) end
return until_ms
"""

_client = per_process(
    lambda: redis.Redis.from_url(conf.redis_url(), socket_connect_timeout=1, socket_timeout=1)
)


def client() -> redis.Redis:
    """The shared throttle's Redis, one connection pool per process."""
    return _client()


@dataclass(frozen=True)
class Wait:
    """The gate is shut; try again after ``delay``."""

    delay: timedelta
    reason: Reason


_gate = per_process(lambda: client().register_script(GATE))

# Until when (time.monotonic()) this process goes ahead without asking: set by a
# calm gate, cleared by any answer from Seg but a 2xx. Per process: a forked
# worker inherits at most one SEG_THROTTLE_REFRESH of it.
_calm_until = float("-inf")
# A 2xx a gate within the calm did not tell Redis: the next gate that asks tells it.
_unreported = False


def gate(delivered: bool = False, browser: bool = False) -> Wait | None:
    """None to post now; else how long to wait, for the rate cap, a pause, or the breaker.

    ``delivered``: the caller's last post was a 2xx it has not reported;
    the gate reports it first, as ``report`` would, in the same round trip.
    ``browser``: the post is of a page's event, which takes a token of the
    pages' share too (SEG_BROWSER_RATE_SHARE of SEG_RATE_LIMIT), so a flood
    from pages leaves the server's events the rest of the cap.

    With no rate cap (SEG_RATE_LIMIT 0), a gate that finds nothing holding
    workers back (no pause, the circuit closed, no failure counted) lets this
    process go ahead without asking Redis for SEG_THROTTLE_REFRESH (0.1 s),
    as long as Seg answers it 2xx: any other answer (``report``) ends that
    at once. So a pause or an open circuit that another worker meets reaches
    this one within SEG_THROTTLE_REFRESH; one it meets itself, before its
    next post. A 2xx within that time is told to Redis by the next gate that
    asks (failures another worker counted meanwhile are then cleared).
    """
    global _calm_until, _unreported
    if time.monotonic() < _calm_until:
        _unreported = _unreported or delivered
        return None
    delivered, _unreported = delivered or _unreported, False
    rate = float(conf.get_setting("SEG_RATE_LIMIT") or 0)
    lease_ms = int(conf.get_setting("SEG_LEASE").total_seconds() * 1000)
    share = browser_rate(rate) if browser else 0.0
    try:
        code, wait_ms, *calm = _gate()(
            keys=[BUCKET, PAUSE, OPEN, PROBE, FAILURES, BROWSER_BUCKET],
            args=[rate, max(rate, 1), lease_ms, int(delivered), share],
        )
    except redis.RedisError:
        logger.warning("Throttle unavailable (Redis); posting without it.", exc_info=True)
        return None
    if calm and int(calm[0]):
        refresh = conf.get_setting("SEG_THROTTLE_REFRESH").total_seconds()
        _calm_until = time.monotonic() + refresh
    if not int(code):
        return None
    return Wait(timedelta(milliseconds=max(int(wait_ms), 1)), REASONS[int(code)])


def browser_rate(rate: float) -> float:
    """Pages' posts a second under the cap ``rate``: SEG_BROWSER_RATE_SHARE of it; 0 when
    pages have no bucket of their own (no cap, or a share of 1 or more)."""
    share = float(conf.get_setting("SEG_BROWSER_RATE_SHARE"))
    return rate * share if rate > 0 and share < 1 else 0.0


def forget_calm() -> None:
    """Ask Redis at this process's next gate (after an answer from Seg but a 2xx)."""
    global _calm_until, _unreported
    _calm_until, _unreported = float("-inf"), False


def report(verdict: Verdict, status: int | None, retry_after: timedelta | None) -> None:
    """Tell every worker what Seg just answered.

    2xx closes the breaker. 429 and 503 pause every worker for Retry-After
    (else SEG_RETRY_BASE), at most SEG_RETRY_AFTER_CAP. Other transient
    failures count towards opening the breaker, which then pauses everyone
    for SEG_BREAKER_COOLDOWN and lets one probe through after it.
    """
    if verdict is not Verdict.DELIVERED:
        forget_calm()
    try:
        r = client()
        if verdict is Verdict.DELIVERED:
            if r.exists(OPEN, FAILURES):
                r.delete(FAILURES, OPEN, PROBE)
            return
        if verdict is not Verdict.RETRY:
            return
        if status in (429, 503):
            pause = retry_after or conf.get_setting("SEG_RETRY_BASE")
            _pause(r, min(pause, conf.get_setting("SEG_RETRY_AFTER_CAP")))
        failures = int(r.incr(FAILURES))
        r.expire(FAILURES, 600)
        threshold = int(conf.get_setting("SEG_BREAKER_THRESHOLD"))
        if failures >= threshold:
            cooldown: timedelta = conf.get_setting("SEG_BREAKER_COOLDOWN")
            if not r.exists(OPEN):
                logger.warning(
                    "Seg failed %d times in a row: circuit open, probing every %s.",
                    failures,
                    cooldown,
                )
            r.set(OPEN, "1", ex=int(cooldown.total_seconds()) + 3600)
            r.delete(PROBE)
            _pause(r, cooldown)
    except redis.RedisError:
        logger.warning("Throttle unavailable (Redis); not shared.", exc_info=True)


def _pause(r: redis.Redis, pause: timedelta) -> None:
    r.eval(PAUSE_FOR, 1, PAUSE, max(int(pause.total_seconds() * 1000), 1))


def is_open() -> bool:
    """True while the circuit is open (Seg keeps failing)."""
    try:
        return bool(client().exists(OPEN))
    except redis.RedisError:
        return False


def standing() -> tuple[bool, timedelta]:
    """Whether the circuit is open, and what is left of the pause Seg asked for (zero for
    none), by Redis's clock, in one round trip. Raises redis.RedisError without Redis."""
    with client().pipeline(transaction=False) as pipe:
        pipe.exists(OPEN)
        pipe.get(PAUSE)
        pipe.time()
        is_open, until, (seconds, micros) = pipe.execute()
    left = int(until or 0) - (seconds * 1000 + micros // 1000)
    return bool(is_open), timedelta(milliseconds=max(left, 0))


def reset() -> None:
    """Forget all shared state (for operators after an incident, and for tests)."""
    forget_calm()
    client().delete(BUCKET, PAUSE, FAILURES, OPEN, PROBE, BROWSER_BUCKET)


def sleep_briefly(wait: Wait) -> bool:
    """Sleep through a short rate wait in-process; False if the wait is too long."""
    seconds = wait.delay.total_seconds()
    if wait.reason is not Reason.CIRCUIT_OPEN and seconds <= 1:
        time.sleep(seconds)
        return True
    return False
