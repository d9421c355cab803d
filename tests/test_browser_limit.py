"""The rate limit on browser keys, on real Redis; and the mount over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.test import Client, RequestFactory

from integrations.models import Event
from integrations.web import limiter

from .conftest import BROWSER_KEY, ROOT, WRITE_KEY, RedisServer, WebServer, free_port

pytestmark = pytest.mark.redis


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(client: Client, address: str, key: str = BROWSER_KEY, **extra: Any) -> Any:
    body = {"userId": "u1", "event": "Product Viewed", "properties": {"id": "p1"}}
    extra |= auth(key)
    return client.post(
        "/seg/v1/t",
        data=json.dumps(body),
        content_type="text/plain",
        REMOTE_ADDR=address,
        **extra,
    )


@pytest.fixture
def small_bucket(settings: Any, db: None) -> Any:
    return _small(settings)


def _small(settings: Any) -> Any:
    settings.SEG_BROWSER_RATE_LIMIT = 0.5
    settings.SEG_BROWSER_BURST = 5
    return settings


def test_a_burst_from_one_address_gets_429_while_another_goes_on(
    client: Client, small_bucket: Any
) -> None:
    statuses = [track(client, "203.0.113.7").status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    refused = track(client, "203.0.113.7")
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 2
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]
    assert [track(client, "198.51.100.9").status_code for _ in range(5)] == [200] * 5
    assert Event.objects.count() == 10


def test_server_keys_are_never_limited(client: Client, small_bucket: Any) -> None:
    assert {track(client, "203.0.113.7", key=WRITE_KEY).status_code for _ in range(20)} == {200}
    # The server's calls took nothing from the address's bucket either.
    assert [track(client, "203.0.113.7").status_code for _ in range(5)] == [200] * 5


def test_a_batch_counts_its_messages(client: Client, small_bucket: Any) -> None:
    def batch(size: int) -> Any:
        items = [{"type": "page", "userId": "u1", "name": f"p{i}"} for i in range(size)]
        extra: dict[str, Any] = auth(BROWSER_KEY) | {"REMOTE_ADDR": "203.0.113.8"}
        return client.post(
            "/seg/v1/b", data=json.dumps({"batch": items}), content_type="text/plain", **extra
        )

    assert batch(4).status_code == 200
    assert batch(2).status_code == 429  # 4 + 2 > 5
    # More than a bucket holds: no wait would do. (This address's bucket is
    # empty, and the request's own share is taken before its body is read: it
    # would be 429 first, so the test asks from another address.)
    extra: dict[str, Any] = auth(BROWSER_KEY) | {"REMOTE_ADDR": "203.0.113.9"}
    items = [{"type": "page", "userId": "u1", "name": f"p{i}"} for i in range(6)]
    too_many = client.post(
        "/seg/v1/b", data=json.dumps({"batch": items}), content_type="text/plain", **extra
    )
    assert too_many.status_code == 413


def test_the_address_comes_from_the_trusted_proxy_header(client: Client, small_bucket: Any) -> None:
    small_bucket.SEG_CLIENT_IP_HEADER = "X-Forwarded-For"
    proxy = "10.0.0.1"

    def via_proxy(forwarded: str) -> int:
        return int(track(client, proxy, HTTP_X_FORWARDED_FOR=forwarded).status_code)

    # The client writes what it likes in front; the proxy's own entry is last.
    assert [via_proxy(f"1.1.1.{i}, 203.0.113.7") for i in range(6)] == [200] * 5 + [429]
    assert via_proxy("203.0.113.8") == 200


ALIAS = {"previousId": "ann@example.com", "userId": "eve@example.com"}
# Requests a browser key may send that store nothing; each still costs its address.
REFUSED: dict[str, tuple[str, Any, int]] = {
    "an alias": ("a", ALIAS, 403),
    "a batch of aliases only": ("b", {"batch": [ALIAS | {"type": "alias"}] * 3}, 403),
    "more aliases than a bucket holds": ("b", {"batch": [ALIAS | {"type": "alias"}] * 150}, 413),
    "an empty batch": ("b", {"batch": []}, 200),
    "an invalid message": ("t", {"userId": "u1"}, 400),
    "a batch of invalid messages": ("b", {"batch": [{"type": "track"}] * 3}, 400),
    "a body that is not a batch": ("b", {"batch": "nope"}, 400),
    "a body that is not JSON": ("t", "{", 400),
}


# The key in the header, and in the body but for the body that cannot be read (it names none).
CHARGED = {f"header-{name}": (*case, "header") for name, case in REFUSED.items()} | {
    f"body-{name}": (*case, "body") for name, case in REFUSED.items() if isinstance(case[1], dict)
}


@pytest.mark.parametrize(("path", "body", "status", "key_in"), CHARGED.values(), ids=CHARGED.keys())
def test_every_browser_key_request_is_charged(
    client: Client, small_bucket: Any, path: str, body: Any, status: int, key_in: str
) -> None:
    extra: dict[str, Any] = auth(BROWSER_KEY) if key_in == "header" else {}
    if key_in == "body":
        body = {**body, "writeKey": BROWSER_KEY}
    data = body if isinstance(body, str) else json.dumps(body)

    def send() -> int:
        return int(
            client.post(
                f"/seg/v1/{path}",
                data=data,
                content_type="text/plain",
                REMOTE_ADDR="203.0.113.20",
                **extra,
            ).status_code
        )

    statuses = [send() for _ in range(12)]
    assert statuses[0] == status
    assert statuses[-1] == 429
    assert Event.objects.count() == 0


def test_an_invalid_key_is_not_charged(client: Client, small_bucket: Any) -> None:
    for _ in range(8):
        assert track(client, "203.0.113.21", key="not-a-key").status_code == 401
    assert track(client, "203.0.113.21").status_code == 200


def test_the_charge_comes_before_the_body_is_read(client: Client, small_bucket: Any) -> None:
    while track(client, "203.0.113.22").status_code != 429:
        pass
    # A browser key in the header is charged before the body is parsed: an
    # exhausted address gets 429 whatever it sends, not 400 for its body.
    extra: dict[str, Any] = auth(BROWSER_KEY) | {"REMOTE_ADDR": "203.0.113.22"}
    response = client.post("/seg/v1/b", data="[" * 100_000, content_type="text/plain", **extra)
    assert response.status_code == 429


# As proxies write the client's address: (header, value, the bucket).
WRITTEN = {
    "IPv4": ("X-Forwarded-For", "203.0.113.5", "203.0.113.5"),
    "IPv4 with a port": ("X-Forwarded-For", "203.0.113.5:41234", "203.0.113.5"),
    "the last of a list, with a port": (
        "X-Forwarded-For",
        "1.1.1.1, 203.0.113.5:443",
        "203.0.113.5",
    ),
    "IPv6": ("X-Forwarded-For", "2001:db8::1", "2001:db8::/64"),
    "IPv6 in brackets": ("X-Forwarded-For", "[2001:db8::1]", "2001:db8::/64"),
    "IPv6 in brackets with a port": ("X-Forwarded-For", "[2001:db8::1]:443", "2001:db8::/64"),
    "IPv6 with a zone": ("X-Real-IP", "fe80::1%eth0", "fe80::/64"),
    "quoted": ("X-Real-IP", '"203.0.113.5"', "203.0.113.5"),
    "Forwarded, IPv4": ("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
    "Forwarded, a port": ("Forwarded", 'for="192.0.2.60:8080"', "192.0.2.60"),
    "Forwarded, IPv6 and a port": (
        "Forwarded",
        'for="[2001:db8:cafe::17]:4711"',
        "2001:db8:cafe::/64",
    ),
    "Forwarded, the last element": (
        "Forwarded",
        'for=1.1.1.1, for="_gazonk", For="[2001:db8::9]";proto=https',
        "2001:db8::/64",
    ),
    "Forwarded, by first": ("Forwarded", "by=10.0.0.2;for=192.0.2.61", "192.0.2.61"),
    "junk": ("X-Forwarded-For", "not an address", "10.0.0.1"),
    "a port only": ("X-Forwarded-For", ":41234", "10.0.0.1"),
    "Forwarded, an obfuscated node": ("Forwarded", 'for="_hidden"', "10.0.0.1"),
    "Forwarded, unknown": ("Forwarded", "for=unknown", "10.0.0.1"),
    "Forwarded, junk": ("Forwarded", "for=;;;", "10.0.0.1"),
    "empty": ("X-Forwarded-For", "", "10.0.0.1"),
}


@pytest.mark.parametrize(("header", "value", "bucket"), WRITTEN.values(), ids=WRITTEN.keys())
def test_the_address_is_read_as_a_proxy_writes_it(
    settings: Any, header: str, value: str, bucket: str
) -> None:
    settings.SEG_CLIENT_IP_HEADER = header
    meta = "HTTP_" + header.upper().replace("-", "_")
    given: dict[str, Any] = {"REMOTE_ADDR": "10.0.0.1", meta: value}
    request = RequestFactory().get("/", **given)
    assert limiter.client_address(request) == bucket


def test_junk_where_the_connection_has_no_address_shares_one_bucket(settings: Any) -> None:
    settings.SEG_CLIENT_IP_HEADER = "X-Forwarded-For"
    factory = RequestFactory()
    buckets = {
        limiter.client_address(factory.get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR=f"junk-{i}"))
        for i in range(5)
    }
    assert len(buckets) == 1


@pytest.mark.parametrize(
    ("header", "written"),
    [
        ("X-Forwarded-For", "203.0.113.7:{port}"),
        ("X-Forwarded-For", "[2001:db8::7]:{port}"),
        ("Forwarded", 'for="203.0.113.7:{port}"'),
        ("X-Forwarded-For", "junk-{port}"),
    ],
)
def test_a_new_source_port_or_junk_is_no_new_bucket(
    client: Client, small_bucket: Any, header: str, written: str
) -> None:
    small_bucket.SEG_CLIENT_IP_HEADER = header
    meta = "HTTP_" + header.upper().replace("-", "_")
    statuses = [
        track(client, "10.0.0.1", **{meta: written.format(port=40000 + i)}).status_code
        for i in range(6)
    ]
    assert statuses == [200] * 5 + [429]


def test_client_address(db: None) -> None:
    factory = RequestFactory()
    v6 = factory.get("/", REMOTE_ADDR="2001:db8:1:2:3:4:5:6")
    assert limiter.client_address(v6) == "2001:db8:1:2::/64"
    mapped = factory.get("/", REMOTE_ADDR="::ffff:203.0.113.7")
    assert limiter.client_address(mapped) == "203.0.113.7"


def test_redis_down_turns_no_event_away_and_makes_none_wait(
    client: Client, small_bucket: Any
) -> None:
    small_bucket.SEG_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    times = []
    for _ in range(20):
        start = time.perf_counter()
        assert track(client, "203.0.113.7").status_code == 200
        times.append(time.perf_counter() - start)
    assert max(times) < 0.5
    assert Event.objects.count() == 20


def test_redis_stopped_then_back(client: Client, small_bucket: Any) -> None:
    server = RedisServer()
    small_bucket.SEG_REDIS_URL = server.url
    small_bucket.SEG_PUBLISH_PAUSE = 0.2
    try:
        assert [track(client, "203.0.113.7").status_code for _ in range(6)][-1] == 429
        server.stop()
        assert {track(client, "203.0.113.7").status_code for _ in range(10)} == {200}
        server.start()
        time.sleep(0.3)  # past the pause: the limit is back, with an empty bucket
        statuses = [track(client, "203.0.113.7").status_code for _ in range(7)]
        assert statuses[-1] == 429
    finally:
        server.stop()


# --- over real HTTP, under gunicorn ------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_mount_over_http(start_web: Callable[..., WebServer]) -> None:
    standalone = ROOT / "node_modules/@segment/analytics-next/dist/umd/standalone.js"
    web = start_web(
        SEG_ANALYTICS_JS_PATH=str(standalone),
        SEG_BROWSER_BURST="3",
        SEG_BROWSER_RATE_LIMIT="0.1",
    )
    origin = {"Origin": "http://127.0.0.1:1"}
    flight = requests.options(
        f"{web.url}/seg/v1/t",
        headers=origin
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-retry-count",
        },
        timeout=60,
    )
    assert flight.status_code == 204
    assert "x-retry-count" in flight.headers["Access-Control-Allow-Headers"]
    got = requests.get(f"{web.url}/seg/v1/projects/{BROWSER_KEY}/settings", timeout=60)
    host = web.url.removeprefix("http://")
    assert got.json()["integrations"]["Segment.io"]["apiHost"] == f"{host}/seg/v1"
    if standalone.is_file():
        bundle = requests.get(
            f"{web.url}/seg/analytics.js/v1/{BROWSER_KEY}/analytics.min.js", timeout=60
        )
        assert bundle.status_code == 200 and bundle.content == standalone.read_bytes()
    statuses = [
        requests.post(
            f"{web.url}/seg/v1/t",
            data=json.dumps({"userId": "u1", "event": "Product Viewed"}),
            auth=(BROWSER_KEY, ""),
            headers=origin | {"Content-Type": "text/plain", "X-Retry-Count": "1"},
            timeout=60,
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
