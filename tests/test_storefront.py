"""The demo storefront's pages: what each one asks analytics.js to track, and the
checkout behind Django's login. (The browser tests run the same pages with analytics.js.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.models import Event, Source

pytestmark = pytest.mark.django_db

MONOPOLY, CATAN = "507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"


def tracked(response: Any) -> list[dict[str, Any]]:
    """The calls a page hands to ``analytics.track``, read from its ``seg-track`` JSON."""
    assert response.status_code == 200
    found = re.search(
        r'<script id="seg-track" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(found.group(1)) if found else []


def test_the_catalogue_and_a_category_send_product_list_viewed(client: Client) -> None:
    [everything] = tracked(client.get("/"))
    assert everything["event"] == "Product List Viewed"
    assert everything["properties"]["categories"] == ["Board games", "Puzzles", "Books"]
    [games] = tracked(client.get("/category/board-games/"))
    props = games["properties"]
    assert props["category"] == "Board games" and props["list_id"] == "board-games"
    assert props["brands"] == ["Hasbro", "Kosmos", "Days of Wonder"]
    assert [p["position"] for p in props["products"]] == [1, 2, 3]
    assert client.get("/category/toys/").status_code == 404


def test_a_product_page_sends_product_viewed(client: Client) -> None:
    [viewed] = tracked(client.get(f"/product/{MONOPOLY}/"))
    assert viewed["event"] == "Product Viewed"
    assert viewed["properties"] | {"url": ""} == {
        "product_id": MONOPOLY,
        "sku": "G-MONO",
        "name": "Monopoly",
        "category": "Board games",
        "brand": "Hasbro",
        "price": 19.0,
        "currency": "EUR",
        "url": "",
        "categories": ["Board games"],
        "brands": ["Hasbro"],
    }
    assert viewed["properties"]["url"] == f"http://testserver/product/{MONOPOLY}/"
    assert client.get("/product/nothing/").status_code == 404


def test_adding_to_the_basket_sends_product_added_once(client: Client) -> None:
    response = client.post(f"/product/{MONOPOLY}/add/", {"quantity": "3"})
    assert response.status_code == 302 and response["Location"] == "/basket/"
    [added] = tracked(client.get("/basket/"))
    assert added["event"] == "Product Added"
    assert added["properties"]["quantity"] == 3 and added["properties"]["price"] == 19.0
    assert tracked(client.get("/basket/")) == []  # a reload adds nothing
    client.post(f"/product/{MONOPOLY}/add/", {"quantity": "many"})  # read as 1
    assert "Basket (4)" in client.get("/basket/").content.decode()
    assert client.get(f"/product/{MONOPOLY}/add/").status_code == 405


def test_the_checkout_asks_for_a_login_and_the_order_is_tracked_once(client: Client) -> None:
    User.objects.create_user("ann", "ann@example.com", "ann")
    client.post(f"/product/{MONOPOLY}/add/", {"quantity": "2"})
    client.post(f"/product/{CATAN}/add/")
    response = client.get("/checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/checkout/"
    login = client.get(response["Location"])
    assert 'value="/checkout/"' in login.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "ann", "password": "ann", "next": "/checkout/"}
    )
    assert response["Location"] == "/checkout/"
    assert client.get("/checkout/").status_code == 200

    placed = client.post("/checkout/", {"delivery_method": "express", "coupon": "demo10"})
    receipt = placed["Location"]
    # The shop's server sent the order, in the transaction that placed it; the
    # receipt's page sends none.
    page = client.get(receipt)
    assert tracked(page) == [] and "The shop's server sent" in page.content.decode()
    stored = Event.objects.get(call_type="track", name="Order Completed")
    assert (stored.source, stored.email) == (Source.SERVER, "ann@example.com")
    order = stored.message
    props = order["properties"]
    assert order["event"] == "Order Completed" and receipt == f"/order/{props['order_id']}/"
    assert (props["total"], props["shipping"], props["discount"], props["coupon"]) == (
        80.06,
        9.95,
        7.79,
        "DEMO10",
    )
    assert (props["tax"], props["revenue"], props["_p"]) == (11.68, 58.43, 18.43)
    assert [(p["product_id"], p["quantity"]) for p in props["products"]] == [
        (MONOPOLY, 2),
        (CATAN, 1),
    ]
    assert tracked(client.get(receipt)) == []  # a reload is no second order
    assert "Basket (0)" in client.get("/").content.decode()
    assert client.get("/order/SF-000000000000/").status_code == 404


def test_logging_in_without_a_next_page_returns_to_the_catalogue(client: Client) -> None:
    User.objects.create_user("ann", "ann@example.com", "ann")
    response = client.post("/accounts/login/", {"username": "ann", "password": "ann"})
    assert response["Location"] == "/"
    assert client.post("/accounts/logout/")["Location"] == "/"
