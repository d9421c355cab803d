"""The storefront's pages. Each passes ``track`` (a list of calls) for the page's
analytics.js to send after its ``page()``; what the calls carry is in ``tracking``.

The order is the exception: the shop's server sends ``Order Completed`` itself,
through ``integrations.api`` in the transaction that places it, as a shop should
(an order is the server's word, and never waits behind what pages send)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from integrations import api

from . import basket, tracking
from .catalogue import CATEGORIES, DELIVERY, Product, category, in_category, product

JUST_ADDED = "storefront.added"  # [product id, quantity], tracked once by the basket page
UNTRACKED_ORDER = "storefront.untracked"  # an order id, tracked once by its receipt


def _shop(request: HttpRequest) -> dict[str, Any]:
    """What every page's header shows."""
    return {"categories": CATEGORIES, "basket_count": basket.count(request.session)}


def _page(
    request: HttpRequest, template: str, track: list[dict[str, Any]], **context: Any
) -> HttpResponse:
    return render(request, template, _shop(request) | context | {"track": track})


def _url(request: HttpRequest) -> tracking.ProductUrl:
    def url(item: Product) -> str:
        return request.build_absolute_uri(reverse("storefront:product", args=[item.id]))

    return url


def catalogue(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    chosen = None
    if slug is not None:
        chosen = category(slug)
        if chosen is None:
            raise Http404("No such category.")
    items = in_category(chosen)
    track = [tracking.list_viewed(chosen, items, _url(request))]
    return _page(request, "storefront/catalogue.html", track, chosen=chosen, products=items)


def product_page(request: HttpRequest, product_id: str) -> HttpResponse:
    item = product(product_id)
    if item is None:
        raise Http404("No such product.")
    track = [tracking.product_viewed(item, _url(request))]
    return _page(request, "storefront/product.html", track, product=item)


@require_POST
def add_to_basket(request: HttpRequest, product_id: str) -> HttpResponse:
    item = product(product_id)
    if item is None:
        raise Http404("No such product.")
    given = request.POST.get("quantity", "")
    quantity = max(1, min(99, int(given))) if given.isdigit() else 1
    basket.add(request.session, item, quantity)
    request.session[JUST_ADDED] = [item.id, quantity]
    return redirect("storefront:basket")


def basket_page(request: HttpRequest) -> HttpResponse:
    track = []
    added = request.session.pop(JUST_ADDED, None)
    item = product(added[0]) if added else None
    if added and item is not None:
        track.append(tracking.product_added(basket.Line(item, added[1]), _url(request)))
    lines = basket.lines(request.session)
    total = sum(line.amount for line in lines)
    return _page(request, "storefront/basket.html", track, lines=lines, total=total)


@login_required
def checkout(request: HttpRequest) -> HttpResponse:
    lines = basket.lines(request.session)
    if not lines:
        return redirect("storefront:basket")
    if request.method == "POST":
        method = request.POST.get("delivery_method", "")
        method = method if method in DELIVERY else "standard"
        with transaction.atomic():
            order = basket.place(request.session, method, request.POST.get("coupon", ""))
            call = tracking.order_completed(order, _url(request))
            api.track(
                str(request.user.pk),
                call["event"],
                call["properties"],
                anonymous_id=_anonymous_id(request),
                context={
                    "traits": {"email": getattr(request.user, "email", "")},
                    "page": {"url": request.build_absolute_uri(), "path": request.path},
                },
                message_id=f"storefront-order-{order.id}",
            )
        request.session[UNTRACKED_ORDER] = order.id
        return redirect("storefront:order", order_id=order.id)
    total = sum(line.amount for line in lines)
    return _page(
        request, "storefront/checkout.html", [], lines=lines, total=total, delivery=DELIVERY
    )


@login_required
def order_page(request: HttpRequest, order_id: str) -> HttpResponse:
    order = basket.placed(request.session, order_id)
    if order is None:
        raise Http404("No such order.")
    sent = request.session.pop(UNTRACKED_ORDER, None) == order.id
    return _page(request, "storefront/order.html", [], order=order, sent_by_server=sent)


def _anonymous_id(request: HttpRequest) -> str | None:
    """analytics.js's anonymousId, from its ``ajs_anonymous_id`` cookie (``%22…%22``)."""
    value = unquote(request.COOKIES.get("ajs_anonymous_id", "")).strip('"')
    return value or None


class Login(auth_views.LoginView):
    """Django's login, in the shop's pages; back to the catalogue when nothing says where."""

    template_name = "storefront/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs) | _shop(self.request)

    def get_default_redirect_url(self) -> str:
        return reverse("storefront:catalogue")
