"""A small catalogue and a customer's path through Oscar's own views, for the shop's tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.sites.models import Site
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oscar.apps.address.models import Country
from oscar.apps.basket.models import Basket
from oscar.apps.catalogue.categories import create_from_breadcrumbs
from oscar.apps.catalogue.models import (
    Product,
    ProductAttribute,
    ProductCategory,
    ProductClass,
    ProductImage,
)
from oscar.apps.checkout.calculators import OrderTotalCalculator
from oscar.apps.offer.models import Benefit, Condition, ConditionalOffer, Range
from oscar.apps.order.models import Order
from oscar.apps.order.utils import OrderCreator
from oscar.apps.partner.models import Partner, StockRecord
from oscar.apps.partner.strategy import Selector
from oscar.apps.shipping.methods import Free
from oscar.apps.voucher.models import Voucher
from PIL import Image

ANONYMOUS_ID = "4b2d1c8e-7a1f-4a6e-9c3b-1f0e2d3c4b5a"
# As analytics.js writes it: JSON-encoded, then percent-encoded by js-cookie.
AJS_COOKIE = f"%22{ANONYMOUS_ID}%22"
PASSWORD = "a long and unusual password 7"


@dataclass
class Catalogue:
    book: Any
    pencil: Any


def catalogue() -> Catalogue:
    """Two products in a category, with a brand, stock, a price and (the book) an image."""
    Country.objects.create(
        iso_3166_1_a2="GB", iso_3166_1_a3="GBR", name="United Kingdom", is_shipping_country=True
    )
    kind = ProductClass.objects.create(name="Stationery", requires_shipping=True)
    ProductAttribute.objects.create(product_class=kind, name="Brand", code="brand", type="text")
    partner = Partner.objects.create(name="Warehouse")
    category = create_from_breadcrumbs("Books > Fiction")
    made = []
    for title, upc, sku, price, brand in (
        ("The Book", "9780140449136", "BOOK-1", "19.99", "Penguin"),
        ("A Pencil", "5012345678900", "PEN-1", "0.10", "Staedtler"),
    ):
        product = Product(product_class=kind, title=title, upc=upc, structure="standalone")
        product.attr.brand = brand
        product.save()
        ProductCategory.objects.create(product=product, category=category)
        StockRecord.objects.create(
            product=product,
            partner=partner,
            partner_sku=sku,
            price=Decimal(price),
            price_currency="GBP",
            num_in_stock=100,
        )
        made.append(product)
    ProductImage.objects.create(product=made[0], original=_png("cover.png"), display_order=0)
    return Catalogue(*made)


def _png(name: str) -> SimpleUploadedFile:
    data = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(data, "PNG")
    return SimpleUploadedFile(name, data.getvalue(), content_type="image/png")


def voucher(code: str, amount: str) -> Voucher:
    """A voucher taking ``amount`` off any basket of one item or more."""
    everything = Range.objects.create(name="Everything", includes_all_products=True)
    offer = ConditionalOffer.objects.create(
        name=f"Voucher {code}",
        offer_type=ConditionalOffer.VOUCHER,
        condition=Condition.objects.create(range=everything, type=Condition.COUNT, value=1),
        benefit=Benefit.objects.create(range=everything, type=Benefit.FIXED, value=Decimal(amount)),
    )
    now = timezone.now()
    made = Voucher.objects.create(
        name=code,
        code=code,
        usage=Voucher.MULTI_USE,
        start_datetime=now - timedelta(days=1),
        end_datetime=now + timedelta(days=1),
    )
    made.offers.add(offer)
    return made


def redeem(client: Client, code: str) -> None:
    response = client.post(reverse("basket:vouchers-add"), {"code": code})
    assert response.status_code == 302, response.content[:500]


def visitor() -> Client:
    """A browser that analytics.js has given an anonymous id."""
    client = Client()
    client.cookies["ajs_anonymous_id"] = AJS_COOKIE
    return client


def view(client: Client, product: Any) -> None:
    assert client.get(product.get_absolute_url()).status_code == 200


def add(client: Client, product: Any, quantity: int) -> None:
    response = client.post(reverse("basket:add", kwargs={"pk": product.pk}), {"quantity": quantity})
    assert response.status_code == 302, response.content[:500]


def register(client: Client, email: str) -> None:
    response = client.post(
        reverse("customer:register"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content[:2000]


def checkout(client: Client, guest: str | None = None) -> Order:
    """Oscar's default checkout: address, the free shipping method, no payment, place order.

    ``guest``: check out as a guest with this email (OSCAR_ALLOW_ANON_CHECKOUT).
    """
    if guest is None:
        assert client.get(reverse("checkout:index")).status_code == 302
    else:
        response = client.post(
            reverse("checkout:index"), {"username": guest, "options": "anonymous"}
        )
        assert response.status_code == 302, response.content[:2000]
    response = client.post(
        reverse("checkout:shipping-address"),
        {
            "first_name": "Ann",
            "last_name": "Smith",
            "line1": "1 High Street",
            "line4": "London",
            "postcode": "N1 9GU",
            "country": "GB",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    # One shipping method (Oscar's Free) and no payment method: both pages skip ahead.
    assert client.get(reverse("checkout:shipping-method")).status_code == 302
    assert client.get(reverse("checkout:payment-method")).status_code == 302
    response = client.get(reverse("checkout:payment-details"))
    assert response.status_code == 200, response.get("Location")
    response = client.post(reverse("checkout:preview"), {"action": "place_order"})
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"].endswith(reverse("checkout:thank-you"))
    return Order.objects.latest("pk")


def customer(email: str) -> Any:
    """A registered customer, made without Oscar's views (so nobody is identified yet)."""
    return get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)


def place_order(user: Any, product: Any, quantity: int, site: Site) -> Order:
    """An order placed with Oscar's OrderCreator outside any request, as a job or the
    dashboard's code would, on ``site``."""
    basket = Basket.objects.create(owner=user)
    basket.strategy = Selector().strategy(user=user)
    basket.add_product(product, quantity)
    method = Free()
    charge = method.calculate(basket)
    return OrderCreator().place_order(
        basket=basket,
        total=OrderTotalCalculator().calculate(basket, charge),
        shipping_method=method,
        shipping_charge=charge,
        user=user,
        site=site,
    )
