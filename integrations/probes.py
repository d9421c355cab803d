"""What an operations team's tools reach: ``/metrics`` for Prometheus, ``/healthz`` and
``/readyz`` for a load balancer or Kubernetes. Include at the site's root:
``path("", include("integrations.probes"))``.

* ``GET /healthz`` (liveness): 200 while the process answers; asks nothing else,
  so a restart is never the answer to a database or broker outage.
* ``GET /readyz`` (readiness): the database, the broker and a live worker
  (``checks.readiness``), as JSON; 503 when a check in SEG_READY_REQUIRES fails
  (default: the database alone, which is all that storing a call needs). What
  each check saw (an error can name a host) only for whom ``allowed`` lets in.
* ``GET /metrics``: Prometheus's exposition (``operating.exposition``), for a
  scrape that SEG_METRICS_TOKEN and SEG_METRICS_ALLOWED_IPS let in (``allowed``).

``AnyHostProbes``, first in MIDDLEWARE, lets the two probes answer whatever the
Host header says (a kubelet sends the pod's address); /metrics keeps Django's
host validation.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, path, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import checks, conf, operating
from .web import client_address

NO_ACCESS = (
    "Set SEG_METRICS_TOKEN (scrape with Authorization: Bearer <token>) or "
    "SEG_METRICS_ALLOWED_IPS to let Prometheus in."
)


def allowed(request: HttpRequest) -> HttpResponse | None:
    """None when ``request`` may read the metrics, else the answer that refuses it.

    With SEG_METRICS_TOKEN set, the request must carry ``Authorization: Bearer <it>``
    (401 otherwise; compared in constant time); with SEG_METRICS_ALLOWED_IPS set, its
    client address (``web.client_address``: SEG_CLIENT_IP_HEADER, else REMOTE_ADDR) must
    lie in one of them (403). With both set, both must hold. With neither, every request
    is refused (403) unless DEBUG is on: metrics name the shop's volumes and its backlog.
    """
    token = conf.get_setting("SEG_METRICS_TOKEN")
    networks = allowed_networks()
    if not token and not networks:
        return None if settings.DEBUG else HttpResponse(NO_ACCESS, status=403)
    if networks and not _within(client_address(request), networks):
        return HttpResponse("This address may not read the metrics.", status=403)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), str(token).encode()
        ):
            refused = HttpResponse("A bearer token is needed.", status=401)
            refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return refused
    return None


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """SEG_METRICS_ALLOWED_IPS as networks (an address is a network of one); an entry
    that is neither is left out (``integrations.E105`` names it)."""
    networks = []
    for entry in conf.text_list("SEG_METRICS_ALLOWED_IPS"):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return networks


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        client = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return False
    return any(
        client.version == network.version and client.subnet_of(network)  # type: ignore[arg-type]
        for network in networks
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if refused := allowed(request):
        return refused
    body, content_type = operating.exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    probes = checks.readiness()
    required = conf.text_list("SEG_READY_REQUIRES")
    ok = checks.ready(probes, required)
    detailed = _host_allowed(request) and allowed(request) is None
    body = {
        "status": "ok" if ok else "fail",
        "checks": {
            probe.name: {"ok": probe.ok, "required": probe.name in required}
            | ({"detail": probe.detail} if detailed else {})
            for probe in probes
        },
    }
    return JsonResponse(body, status=200 if ok else 503)


def _host_allowed(request: HttpRequest) -> bool:
    """Whether ALLOWED_HOSTS names the request's Host (``AnyHostProbes`` lets others reach
    the probes: their answers then carry no details, which a page an attacker's name
    points at the server, DNS rebinding, must not read)."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


class AnyHostProbes:
    """Middleware that answers ``/healthz`` and ``/readyz`` before Django reads the
    request's Host header; place it first in MIDDLEWARE.

    Django validates Host against ALLOWED_HOSTS when ``request.get_host()`` is first
    called, and CommonMiddleware calls it for every request (SecurityMiddleware too, to
    redirect to HTTPS): a kubelet's probe, whose Host is the pod's address, gets 400
    (DisallowedHost). These two views build no URL and change nothing, and readyz's
    details stay behind ``allowed`` and a Host ALLOWED_HOSTS names; so for a request
    whose path resolves to one of them (the views refuse any method but GET: 405),
    this calls the view itself and skips the rest of the chain. Every other request,
    /metrics among them, goes on down it and is validated as before. A path is
    resolved only when it ends as a probe's does: other requests pay one comparison.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.endswith(("/healthz", "/readyz")):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            if match.func in (healthz, readyz):
                response: HttpResponse = match.func(request, *match.args, **match.kwargs)
                return response
        return self.get_response(request)


urlpatterns = [
    path("metrics", metrics, name="seg-metrics"),
    path("healthz", healthz, name="seg-healthz"),
    path("readyz", readyz, name="seg-readyz"),
]
