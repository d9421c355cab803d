"""The Oscar integration in a real Oscar shop: Oscar's own views, the sandbox, a real worker.

Run by tests/test_oscar.py with this project's settings (the example project's
cannot hold Oscar), so that it runs in the ordinary suite and in CI.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model, login
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sites.models import Site
from django.core import checks
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from oscar.apps.catalogue.signals import product_viewed
from oscar.apps.order.models import Order
from oscar.apps.order.signals import order_placed
from oscar.apps.order.utils import OrderCreator

from integrations.contrib.oscar.orders import message_id
from integrations.dev import Sandbox
from integrations.models import CallType, Event, Status
from tests.conftest import WRITE_KEY, wait_until

from . import shop

EMAIL = "ann.smith@example.com"


def events(name: str) -> list[Event]:
    return [e for e in Event.objects.order_by("pk") if e.message.get("event") == name]


def identified(user: Any) -> Event:
    return Event.objects.get(call_type=CallType.IDENTIFY, user_id=str(user.pk))


def order_event(order: Order) -> Event:
    return Event.objects.get(message_id=message_id(order))


@pytest.mark.django_db(transaction=True)
def test_a_visit_browse_basket_register_and_checkout_reaches_seg(
    sandbox: Sandbox, start_worker: Any
) -> None:
    """Oscar's views, analytics.js's cookie and a held browser event, delivered by a worker."""
    products = shop.catalogue()
    client = shop.visitor()
    # analytics.js's own page call, before the visitor is known: held.
    response = client.post(
        "/seg/v1/p",
        json.dumps({"writeKey": WRITE_KEY, "anonymousId": shop.ANONYMOUS_ID, "name": "Home"}),
        content_type="text/plain",
    )
    assert response.status_code == 200
    assert Event.objects.get().status == Status.HELD

    shop.view(client, products.book)
    shop.add(client, products.book, 3)
    shop.add(client, products.pencil, 2)
    shop.register(client, EMAIL)
    order = shop.checkout(client)

    start_worker(concurrency=1)
    wait_until(lambda: len(sandbox.delivered()) >= 6, timeout=60)
    received = {(r.action, (r.body or {}).get("Event")): r.body for r in sandbox.delivered()}
    assert set(received) == {
        ("events", "PageView"),
        ("events", "ProductView"),
        ("events", "AddedToBasket"),
        ("update-customer", None),
        ("order-placed", None),
    }
    assert all(body["Email"] == EMAIL for body in received.values())
    assert all(body["AnonymousId"] == shop.ANONYMOUS_ID for body in received.values())
    user_id = str(order.user_id)
    assert received[("update-customer", None)]["UserId"] == user_id

    viewed = received[("events", "ProductView")]
    assert viewed["Categories"] == ["Fiction"] and viewed["Brands"] == ["Penguin"]
    assert viewed["Product"] | {"ImageUrl": "?", "Url": "?"} == {
        "Id": str(products.book.pk),
        "Sku": "BOOK-1",
        "Name": "The Book",
        "Price": 19.99,
        "Quantity": 1,
        "ImageUrl": "?",
        "Url": "?",
        "Categories": ["Fiction"],
        "Brands": ["Penguin"],
    }
    assert viewed["Product"]["ImageUrl"].startswith("http://testserver/media/")
    assert viewed["Url"] == f"http://testserver{products.book.get_absolute_url()}"
    added = [
        r.body["OrderLines"][0]
        for r in sandbox.delivered()
        if r.body.get("Event") == "AddedToBasket"
    ]
    assert [(line["Sku"], line["Quantity"], line["Price"]) for line in added] == [
        ("BOOK-1", 3, 19.99),
        ("PEN-1", 2, 0.1),
    ]

    placed = received[("order-placed", None)]
    assert placed["MessageId"] == message_id(order)
    assert {k: placed[k] for k in ("Id", "UserId", "Total", "DeliveryRevenue", "Tax")} == {
        "Id": order.number,
        "UserId": user_id,
        "Total": 60.17,
        "DeliveryRevenue": 0,
        "Tax": 0,
    }
    assert placed["Currency"] == "GBP" and placed["Discount"] == 0
    assert placed["Categories"] == ["Fiction"] and placed["Brands"] == ["Penguin", "Staedtler"]
    lines = [
        {k: line.get(k) for k in ("Id", "Sku", "Name", "Price", "OriginalPrice", "Quantity")}
        for line in placed["OrderLines"]
    ]
    assert lines == [
        {
            "Id": str(products.book.pk),
            "Sku": "BOOK-1",
            "Name": "The Book",
            "Price": 19.99,
            "OriginalPrice": 19.99,
            "Quantity": 3,
        },
        {
            "Id": str(products.pencil.pk),
            "Sku": "PEN-1",
            "Name": "A Pencil",
            "Price": 0.1,
            "OriginalPrice": 0.1,
            "Quantity": 2,
        },
    ]
    assert placed["OrderLines"][0]["ImageUrl"].startswith("http://testserver/media/")
    assert placed["OrderLines"][0]["Brands"] == ["Penguin"]


@pytest.mark.django_db
def test_money_is_exact_decimal_text_and_an_exact_number_to_seg() -> None:
    products = shop.catalogue()
    client = shop.visitor()
    shop.add(client, products.pencil, 3)  # 3 x 0.10: 0.30000000000000004 in floats
    shop.register(client, EMAIL)
    order = shop.checkout(client)
    event = order_event(order)
    sent = event.message["properties"]
    assert (sent["total"], sent["products"][0]["price"]) == ("0.30", "0.10")
    assert event.payload["Total"] == 0.3 and event.payload["OrderLines"][0]["Price"] == 0.1
    assert '"Total": 0.3,' in json.dumps(event.payload)


@pytest.mark.django_db
def test_the_order_carries_its_voucher_and_discount() -> None:
    products = shop.catalogue()
    shop.voucher("FIVEOFF", "5.00")
    client = shop.visitor()
    shop.add(client, products.book, 2)
    shop.register(client, EMAIL)
    shop.redeem(client, "FIVEOFF")
    order = shop.checkout(client)
    payload = order_event(order).payload
    assert {k: payload[k] for k in ("Total", "Discount", "Coupon")} == {
        "Total": 34.98,
        "Discount": 5,
        "Coupon": "FIVEOFF",
    }
    (line,) = payload["OrderLines"]
    assert (line["Price"], line["OriginalPrice"], line["Quantity"]) == (17.49, 19.99, 2)
    assert order_event(order).message["properties"]["vouchers"] == ["FIVEOFF"]


@pytest.mark.django_db
def test_a_guest_order_names_the_visitor_by_the_orders_email() -> None:
    """The guest's held browser events go out with the email the order gives."""
    products = shop.catalogue()
    client = shop.visitor()
    shop.view(client, products.book)
    shop.add(client, products.book, 1)
    assert {e.status for e in Event.objects.all()} == {Status.HELD}
    order = shop.checkout(client, guest="Guest@Example.com")
    placed = order_event(order)
    assert placed.message["anonymousId"] == shop.ANONYMOUS_ID and "userId" not in placed.message
    assert placed.email == "guest@example.com" and placed.status == Status.PENDING
    assert {e.email for e in Event.objects.all()} == {"guest@example.com"}
    assert Status.HELD not in {e.status for e in Event.objects.all()}


@pytest.mark.django_db
def test_a_repeated_order_is_stored_once() -> None:
    products = shop.catalogue()
    client = shop.visitor()
    shop.add(client, products.book, 1)
    shop.register(client, EMAIL)
    order = shop.checkout(client)
    order_placed.send(sender=OrderCreator, order=order, user=order.user)
    assert order_event(order).message["event"] == "Order Completed"
    assert len(events("Order Completed")) == 1


@pytest.mark.django_db
def test_a_receiver_turned_off_sends_nothing(settings: Any) -> None:
    settings.SEG_OSCAR_SIGNALS = ["basket_addition", "order_placed", "user_registered"]
    products = shop.catalogue()
    client = shop.visitor()
    shop.view(client, products.book)
    shop.add(client, products.book, 1)
    assert events("Product Viewed") == []
    assert len(events("Product Added")) == 1


@pytest.mark.django_db
def test_a_failing_receiver_never_breaks_the_checkout(caplog: Any) -> None:
    """The Event table is really gone while the order is placed: the order stands."""
    products = shop.catalogue()
    client = shop.visitor()
    shop.add(client, products.book, 1)
    shop.register(client, EMAIL)
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
            order = shop.checkout(client)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert Order.objects.filter(number=order.number).exists()
    assert not Event.objects.filter(message_id=message_id(order)).exists()
    assert "order_placed was not recorded" in caplog.text


@pytest.mark.django_db
def test_without_analytics_js_a_logged_in_customer_is_still_sent() -> None:
    products = shop.catalogue()
    client = Client()
    shop.view(client, products.book)  # nobody to name: not stored
    assert events("Product Viewed") == []
    shop.register(client, EMAIL)
    shop.view(client, products.book)
    (viewed,) = events("Product Viewed")
    assert viewed.email == EMAIL and "anonymousId" not in viewed.message
    assert Event.objects.filter(call_type="identify").count() == 1


def test_the_shop_passes_the_integrations_checks() -> None:
    assert checks.run_checks(tags=["seg_oscar"]) == []


@pytest.mark.django_db
def test_a_login_through_a_request_with_no_host_is_identified(caplog: Any) -> None:
    """Django's test client logs in through an HttpRequest() with no SERVER_NAME or Host:
    the identify is stored, without a page."""
    user = shop.customer(EMAIL)
    with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
        assert Client().login(username=EMAIL, password=shop.PASSWORD)
        Client().force_login(user)  # through the same kind of request
    assert "was not recorded" not in caplog.text
    stored = Event.objects.filter(call_type=CallType.IDENTIFY, user_id=str(user.pk))
    assert [(e.email, e.message["traits"]["email"]) for e in stored] == [(EMAIL, EMAIL)] * 2
    assert all("page" not in e.message.get("context", {}) for e in stored)


@pytest.mark.django_db
def test_a_login_through_a_request_with_a_disallowed_host_is_identified(caplog: Any) -> None:
    """The page's URL cannot be built from a Host outside ALLOWED_HOSTS: the rest is sent."""
    user = shop.customer(EMAIL)
    request = RequestFactory().post(
        "/accounts/login/",
        HTTP_HOST="shop.evil.example",
        HTTP_USER_AGENT="Mozilla/5.0",
        HTTP_REFERER="https://shop.evil.example/",
        HTTP_COOKIE=f"ajs_anonymous_id={shop.AJS_COOKIE}",
    )
    request.session = SessionStore()
    with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    assert "was not recorded" not in caplog.text
    event = identified(user)
    assert event.anonymous_id == shop.ANONYMOUS_ID and event.email == EMAIL
    assert event.message["context"] == {
        "page": {"path": "/accounts/login/", "referrer": "https://shop.evil.example/"},
        "userAgent": "Mozilla/5.0",
    }


@pytest.mark.django_db
def test_a_product_viewed_through_a_disallowed_host_links_to_the_site(caplog: Any) -> None:
    """The product's URLs fall back to the current Site; the page's URL is left out."""
    products = shop.catalogue()
    user = shop.customer(EMAIL)
    request = RequestFactory().get(products.book.get_absolute_url(), HTTP_HOST="shop.evil.example")
    with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
        product_viewed.send(
            sender=None, product=products.book, user=user, request=request, response=HttpResponse()
        )
    assert "was not recorded" not in caplog.text
    (viewed,) = events("Product Viewed")
    sent = viewed.message["properties"]
    domain = Site.objects.get_current().domain
    assert sent["url"] == f"https://{domain}{products.book.get_absolute_url()}"
    assert sent["image_url"].startswith(f"https://{domain}/media/")
    assert sent["product_id"] == str(products.book.pk) and sent["brands"] == ["Penguin"]
    assert viewed.message["context"]["page"] == {"path": products.book.get_absolute_url()}


@pytest.mark.django_db
def test_an_order_placed_with_no_request_and_no_site_id_is_stored(
    settings: Any, caplog: Any
) -> None:
    """A shop of several Sites without SITE_ID has no current Site outside a request:
    the order goes without its products' URLs, with everything else."""
    products = shop.catalogue()
    user = shop.customer(EMAIL)
    Site.objects.create(domain="second.example.com", name="Second")
    del settings.SITE_ID
    Site.objects.clear_cache()
    with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
        order = shop.place_order(user, products.book, 2, Site.objects.get(pk=1))
    assert "was not recorded" not in caplog.text
    placed = order_event(order)
    assert placed.user_id == str(user.pk) and placed.email == EMAIL
    sent = placed.message["properties"]
    assert (sent["order_id"], sent["total"], sent["currency"]) == (order.number, "39.98", "GBP")
    assert sent["categories"] == ["Fiction"] and sent["brands"] == ["Penguin"]
    (line,) = sent["products"]
    assert "url" not in line and "image_url" not in line
    assert {k: line[k] for k in ("product_id", "sku", "name", "price", "quantity")} == {
        "product_id": str(products.book.pk),
        "sku": "BOOK-1",
        "name": "The Book",
        "price": "19.99",
        "quantity": 2,
    }
    assert placed.payload["OrderLines"][0]["Sku"] == "BOOK-1"


@pytest.mark.django_db
def test_an_order_on_a_shop_without_the_catalogues_pages_is_stored(
    settings: Any, caplog: Any
) -> None:
    """A shop that routes no product pages (its catalogue served through an API) cannot
    reverse one: the order goes without the products' url, with their image's."""
    products = shop.catalogue()
    user = shop.customer(EMAIL)
    settings.ROOT_URLCONF = "integrations.urls"
    site = Site.objects.get_current()
    with caplog.at_level(logging.ERROR, "integrations.contrib.oscar"):
        order = shop.place_order(user, products.book, 1, site)
    assert "was not recorded" not in caplog.text
    (line,) = order_event(order).message["properties"]["products"]
    assert "url" not in line and line["sku"] == "BOOK-1"
    assert line["image_url"].startswith(f"https://{site.domain}/media/")


def staff_login(user: Any) -> None:
    """``user`` logs in on the shop's host, in the browser a shopper browsed in."""
    request = RequestFactory().post(
        "/accounts/login/", HTTP_COOKIE=f"ajs_anonymous_id={shop.AJS_COOKIE}"
    )
    request.session = SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")


@pytest.mark.django_db
def test_a_staff_login_does_not_name_the_shoppers_visitor(settings: Any) -> None:
    """An operator logging in where a shopper browsed leaves the shopper's events held."""
    products = shop.catalogue()
    shop.view(shop.visitor(), products.book)
    staff = get_user_model().objects.create_user(
        "ops", "ops@example.com", shop.PASSWORD, is_staff=True
    )
    staff_login(staff)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    staff_login(admin)
    assert not Event.objects.filter(call_type=CallType.IDENTIFY).exists()
    (viewed,) = events("Product Viewed")
    assert viewed.status == Status.HELD and viewed.email == ""
    # The staff's own browsing names nobody: it is the browser's anonymous visitor's.
    client = shop.visitor()
    client.force_login(staff)
    shop.view(client, products.book)
    assert all("userId" not in e.message for e in events("Product Viewed"))
    assert {e.email for e in Event.objects.all()} == {""}

    settings.SEG_IDENTIFY_STAFF = True  # the shop says its staff are customers too
    staff_login(staff)
    event = identified(staff)
    assert event.email == "ops@example.com" and event.anonymous_id == shop.ANONYMOUS_ID


@pytest.mark.django_db
def test_a_staff_members_order_goes_with_its_email_and_names_no_visitor() -> None:
    products = shop.catalogue()
    client = shop.visitor()
    shop.view(client, products.book)
    staff = get_user_model().objects.create_user(
        "ops@example.com", "ops@example.com", shop.PASSWORD, is_staff=True
    )
    client.force_login(staff)
    shop.add(client, products.book, 1)
    placed = order_event(shop.checkout(client))
    assert placed.email == "ops@example.com"
    assert "userId" not in placed.message
    assert placed.message["anonymousId"] != shop.ANONYMOUS_ID
    # The shopper's view before is still theirs: held, no email.
    assert events("Product Viewed")[0].status == Status.HELD


@pytest.mark.django_db
def test_each_order_goes_to_its_sites_website_and_a_view_to_its_requests(settings: Any) -> None:
    """Two stores on two Sites (SEG_WEBSITES): an order goes to its own Site's website,
    whatever request placed it; a page view to the website of the request's Site."""
    store_a, store_b = (
        "0f0e8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6",
        "7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8",
    )
    second = Site.objects.create(domain="second.example.com", name="Second")
    settings.SEG_WEBSITES = {1: store_a, "second.example.com": store_b}
    products = shop.catalogue()
    user = shop.customer(EMAIL)
    in_a = shop.place_order(user, products.book, 1, Site.objects.get(pk=1))
    in_b = shop.place_order(user, products.book, 2, second)
    assert (order_event(in_a).website, order_event(in_b).website) == (store_a, store_b)
    assert order_event(in_a).email == order_event(in_b).email == EMAIL
    client = shop.visitor()
    shop.view(client, products.book)  # SITE_ID 1: the request's site is store A's
    settings.SITE_ID = second.pk
    Site.objects.clear_cache()
    shop.view(client, products.book)
    assert [e.website for e in events("Product Viewed")] == [store_a, store_b]
