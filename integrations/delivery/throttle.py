"""Back-pressure shared by every worker through Redis: a rate cap, a pause when
Seg asks to slow down, and a circuit breaker when Seg keeps failing.

Each Seg website has its own (``keys``): one store's outage or pause holds
back only its own events. ``gate`` runs before every POST; ``report`` after
it; their Lua scripts are in ``throttle_scripts``. When Redis cannot be
reached the gate stays open: the worker got its task from Redis, so this only
happens in a brief outage, and the row still guards against double delivery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import redis

from .. import conf
from ..core import Verdict, per_process
from .throttle_scripts import GATE, PAUSE_FOR

logger = logging.getLogger(__name__)

PREFIX = "seg:throttle:"
BUCKET, PAUSE, FAILURES, OPEN, PROBE, BROWSER_BUCKET = (
    PREFIX + name for name in ("bucket", "pause", "failures", "open", "probe", "browser")
)


def website_name(website: str) -> str:
    """``website`` as the throttle names it: '' for SEG_WEBSITE_ID's (an event's '' too)."""
    return "" if website == (conf.get_setting("SEG_WEBSITE_ID") or "") else website


def keys(website: str = "") -> list[str]:
    """The Redis keys of ``website``'s throttle, in GATE's order: bucket, pause, open,
    probe, failures, pages' bucket. SEG_WEBSITE_ID's are the plain names, another
    website's end in ``:`` and its id."""
    own = [BUCKET, PAUSE, OPEN, PROBE, FAILURES, BROWSER_BUCKET]
    own_name = website_name(website)
    return [f"{key}:{own_name}" for key in own] if own_name else own


class Reason(StrEnum):
    """Why the gate is shut (the GATE script's codes 1, 2, 3), or why a batch stops."""

    RATE = "rate"
    PAUSED = "paused"
    CIRCUIT_OPEN = "circuit open"
    LEASE_RUNNING_OUT = "lease running out"
    SLICE = "a page's task gives its process back"
    IN_LINE = "an earlier event of the customer is retried"
    STOPPING = "the worker process is stopping"


REASONS = {1: Reason.RATE, 2: Reason.PAUSED, 3: Reason.CIRCUIT_OPEN}

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

# Until when (time.monotonic()) this process goes ahead without asking, per website
# (``website_name``): set by a calm gate, cleared by any answer from Seg but a 2xx.
# Per process: a forked worker inherits at most one SEG_THROTTLE_REFRESH of it.
_calm_until: dict[str, float] = {}
# Websites with a 2xx a gate within the calm did not tell Redis: the next gate that asks
# tells it.
_unreported: set[str] = set()


def gate(
    delivered: bool | str | None = False, browser: bool = False, website: str = ""
) -> Wait | None:
    """None to post now to Seg website ``website`` (an event's; '' for SEG_WEBSITE_ID);
    else how long to wait, for its rate cap, its pause, or its breaker.

    ``delivered``: the caller's last post was a 2xx it has not reported, to
    ``website`` (True) or to the website it names (a str; None or False: none);
    the gate reports it first, as ``report`` would, in the same round trip
    when it is ``website``'s.
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
    name = website_name(website)
    if isinstance(delivered, str) and website_name(delivered) != name:
        other = website_name(delivered)
        if time.monotonic() < _calm_until.get(other, float("-inf")):
            _unreported.add(other)
        else:
            report(Verdict.DELIVERED, 200, None, website=other)
    elif delivered is not None and delivered is not False:
        _unreported.add(name)
    if time.monotonic() < _calm_until.get(name, float("-inf")):
        return None
    delivered = name in _unreported
    _unreported.discard(name)
    rate = float(conf.get_setting("SEG_RATE_LIMIT") or 0)
    lease_ms = int(conf.get_setting("SEG_LEASE").total_seconds() * 1000)
    share = browser_rate(rate) if browser else 0.0
    try:
        code, wait_ms, *calm = _gate()(
            keys=keys(name),
            args=[rate, max(rate, 1), lease_ms, int(delivered), share],
        )
    except redis.RedisError:
        logger.warning("Throttle unavailable (Redis); posting without it.", exc_info=True)
        return None
    if calm and int(calm[0]):
        refresh = conf.get_setting("SEG_THROTTLE_REFRESH").total_seconds()
        _calm_until[name] = time.monotonic() + refresh
    if not int(code):
        return None
    return Wait(timedelta(milliseconds=max(int(wait_ms), 1)), REASONS[int(code)])


def browser_rate(rate: float) -> float:
    """Pages' posts a second under the cap ``rate``: SEG_BROWSER_RATE_SHARE of it; 0 when
    pages have no bucket of their own (no cap, or a share of 1 or more)."""
    share = float(conf.get_setting("SEG_BROWSER_RATE_SHARE"))
    return rate * share if rate > 0 and share < 1 else 0.0


def forget_calm(website: str | None = None) -> None:
    """Ask Redis at this process's next gate for ``website`` (after an answer from Seg but
    a 2xx), or for every website (None)."""
    if website is None:
        _calm_until.clear()
        _unreported.clear()
    else:
        _calm_until.pop(website_name(website), None)
        _unreported.discard(website_name(website))


def report(
    verdict: Verdict, status: int | None, retry_after: timedelta | None, website: str = ""
) -> None:
    """Tell every worker what Seg website ``website`` just answered (an event's; '' for
    SEG_WEBSITE_ID).

    2xx closes the breaker. 429 and 503 pause every worker for Retry-After
    (else SEG_RETRY_BASE), at most SEG_RETRY_AFTER_CAP. Other transient
    failures count towards opening the breaker, which then pauses everyone
    for SEG_BREAKER_COOLDOWN and lets one probe through after it.
    """
    if verdict is not Verdict.DELIVERED:
        forget_calm(website)
    _, pause_key, open_key, probe, failures_key, _ = keys(website)
    try:
        r = client()
        if verdict is Verdict.DELIVERED:
            if r.exists(open_key, failures_key):
                r.delete(failures_key, open_key, probe)
            return
        if verdict is not Verdict.RETRY:
            return
        if status in (429, 503):
            pause = retry_after or conf.get_setting("SEG_RETRY_BASE")
            _pause(r, min(pause, conf.get_setting("SEG_RETRY_AFTER_CAP")), pause_key)
        failures = int(r.incr(failures_key))
        r.expire(failures_key, 600)
        threshold = int(conf.get_setting("SEG_BREAKER_THRESHOLD"))
        if failures >= threshold:
            cooldown: timedelta = conf.get_setting("SEG_BREAKER_COOLDOWN")
            if not r.exists(open_key):
                logger.warning(
                    "Seg (website %s) failed %d times in a row: circuit open, probing every %s.",
                    website or conf.get_setting("SEG_WEBSITE_ID"),
                    failures,
                    cooldown,
                )
            r.set(open_key, "1", ex=int(cooldown.total_seconds()) + 3600)
            r.delete(probe)
            _pause(r, cooldown, pause_key)
    except redis.RedisError:
        logger.warning("Throttle unavailable (Redis); not shared.", exc_info=True)


def _pause(r: redis.Redis, pause: timedelta, key: str = PAUSE) -> None:
    r.eval(PAUSE_FOR, 1, key, max(int(pause.total_seconds() * 1000), 1))


def is_open(website: str = "") -> bool:
    """True while ``website``'s circuit is open (that Seg website keeps failing)."""
    try:
        return bool(client().exists(keys(website)[2]))
    except redis.RedisError:
        return False


def standing(websites: Sequence[str] = ("",)) -> dict[str, tuple[bool, timedelta]]:
    """For each of ``websites`` (``""``: SEG_WEBSITE_ID's), whether its circuit is open and
    what is left of the pause Seg asked for (zero for none), by Redis's clock, in one round
    trip. Raises redis.RedisError without Redis."""
    with client().pipeline(transaction=False) as pipe:
        for website in websites:
            _, pause, circuit = keys(website)[:3]
            pipe.exists(circuit)
            pipe.get(pause)
        pipe.time()
        *found, (seconds, micros) = pipe.execute()
    now_ms = seconds * 1000 + micros // 1000
    return {
        website: (
            bool(found[2 * i]),
            timedelta(milliseconds=max(int(found[2 * i + 1] or 0) - now_ms, 0)),
        )
        for i, website in enumerate(websites)
    }


def open_websites(websites: Sequence[str]) -> set[str]:
    """The ones of ``websites`` whose circuit is open; one round trip (none when Redis is
    away: the gate stays open then too)."""
    try:
        with client().pipeline(transaction=False) as pipe:
            for website in websites:
                pipe.exists(keys(website)[2])
            found = pipe.execute()
    except redis.RedisError:
        return set()
    return {website for website, n in zip(websites, found, strict=True) if n}


def reset() -> None:
    """Forget all shared state of every website (for operators after an incident, and
    for tests)."""
    forget_calm()
    r = client()
    r.delete(BUCKET, PAUSE, FAILURES, OPEN, PROBE, BROWSER_BUCKET)
    for key in r.scan_iter(match=PREFIX + "*:*", count=1000):
        r.delete(key)


def sleep_briefly(wait: Wait) -> bool:
    """Sleep through a short rate wait in-process; False if the wait is too long."""
    seconds = wait.delay.total_seconds()
    if wait.reason is not Reason.CIRCUIT_OPEN and seconds <= 1:
        time.sleep(seconds)
        return True
    return False
