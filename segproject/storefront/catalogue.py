"""The demo shop's catalogue: a few products in code, priced in euros, VAT included."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CURRENCY = "EUR"
# Prices include 20% VAT: the tax in a price is a sixth of it.
VAT_SHARE = Decimal(1) / Decimal(6)
DELIVERY = {"standard": Decimal("4.95"), "express": Decimal("9.95")}
# One coupon, so an order can show a discount: 10% off the goods.
COUPONS = {"DEMO10": Decimal("0.10")}


@dataclass(frozen=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True)
class Product:
    id: str
    sku: str
    name: str
    category: Category
    brand: str
    price: Decimal
    cost: Decimal
    """What the shop paid, before VAT: the order's profit (``_p``) is made of it."""
    colour: str
    """A CSS colour that stands in for the product's picture."""


GAMES = Category("board-games", "Board games")
PUZZLES = Category("puzzles", "Puzzles")
BOOKS = Category("books", "Books")
CATEGORIES = (GAMES, PUZZLES, BOOKS)

PRODUCTS = (
    Product("507f1f77bcf86cd799439011", "G-MONO", "Monopoly", GAMES, "Hasbro",
            Decimal("19.00"), Decimal("9.50"), "#c0392b"),
    Product("507f1f77bcf86cd799439012", "G-CATAN", "Catan", GAMES, "Kosmos",
            Decimal("39.90"), Decimal("21.00"), "#d68910"),
    Product("507f1f77bcf86cd799439013", "G-TTR", "Ticket to Ride", GAMES, "Days of Wonder",
            Decimal("44.50"), Decimal("24.00"), "#2874a6"),
    Product("507f1f77bcf86cd799439021", "P-ALPS", "The Alps, 1000 pieces", PUZZLES,
            "Ravensburger", Decimal("14.99"), Decimal("6.00"), "#17a589"),
    Product("507f1f77bcf86cd799439022", "P-MAP", "World map, 2000 pieces", PUZZLES,
            "Ravensburger", Decimal("24.99"), Decimal("11.00"), "#7d3c98"),
    Product("507f1f77bcf86cd799439031", "B-RULES", "The rules of play", BOOKS, "MIT Press",
            Decimal("32.00"), Decimal("17.50"), "#566573"),
)  # fmt: skip


def category(slug: str) -> Category | None:
    return next((c for c in CATEGORIES if c.slug == slug), None)


def product(product_id: str) -> Product | None:
    return next((p for p in PRODUCTS if p.id == product_id), None)


def in_category(chosen: Category | None) -> list[Product]:
    """The products of ``chosen``, or all of them for None."""
    return [p for p in PRODUCTS if chosen is None or p.category == chosen]
