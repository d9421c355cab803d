"""An Oscar shop's history as a backfill's source: every customer, then every placed order.

Customers come first, oldest ``date_joined`` first, each as the live
receivers' ``identify`` dated when they joined, once at each Seg website their
orders go to (SEG_WEBSITE_ID's for a customer without orders); then orders,
oldest ``date_placed`` first, each as the receivers' ``Order Completed`` dated
when it was placed, to its Site's website. So each customer's calls reach each
website in the order they happened. The cursor is the phase, the last (date, pk)
read and, within a customer, how many of their websites are done: keyset pages,
whatever the size of the shop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.sites.models import Site
from django.db.models import Q, QuerySet
from oscar.core.loading import get_model

from ... import conf
from ...backfill import Item
from ...core import JSONObject
from ...models import BackfillRun
from . import visitor
from .calls import customer_identify, customer_message_id, order_completed

# Rows one query reads.
PAGE = 200
PHASES = (("customers", "date_joined"), ("orders", "date_placed"))
NO_WEBSITE = "no orders, and no SEG_WEBSITE_ID to identify the customer at: not sent"
UNMAPPED = (
    "orders at a Site SEG_WEBSITES does not map, and no SEG_WEBSITE_ID to identify the "
    "customer at there: not sent"
)


class OscarHistory:
    """Oscar's customers (users with an email) and placed orders, in the window
    ``since`` <= date < ``until`` (date_joined for a customer, date_placed for an order)."""

    kind: str = BackfillRun.Kind.OSCAR
    path = ""

    def count(self, since: datetime | None, until: datetime | None) -> int:
        customers = self._rows("customers", since, until)
        extra, current, seen = 0, None, set()  # one customer's websites at a time
        for user_id, website in _pairs(customers.values("pk")):
            if user_id != current:
                current, seen = user_id, {website}
            elif website not in seen:
                seen.add(website)
                extra += 1
        return customers.count() + extra + self._rows("orders", since, until).count()

    def items(
        self, cursor: JSONObject, since: datetime | None, until: datetime | None
    ) -> Iterator[Item]:
        start = str(cursor.get("phase", PHASES[0][0]))
        names = [phase for phase, _ in PHASES]
        for phase, date in PHASES[names.index(start) :]:
            after = cursor.get("after") if phase == start else None
            part = int(cursor.get("part", 0)) if phase == start else 0
            rows = self._rows(phase, since, until)
            while True:
                page = rows
                if isinstance(after, list):
                    moment = datetime.fromisoformat(str(after[0]))
                    page = page.filter(
                        Q(**{f"{date}__gt": moment}) | Q(**{date: moment, "pk__gt": after[1]})
                    )
                found = list(page[:PAGE])
                if not found:
                    break
                if phase == "orders":
                    for row in found:
                        after = [getattr(row, date).isoformat(), row.pk]
                        yield self._order(row, {"phase": phase, "after": after})
                    continue
                websites = _websites(row.pk for row in found)
                for row in found:
                    before, after = after, [getattr(row, date).isoformat(), row.pk]
                    each = websites.get(row.pk) or [conf.website_for()]
                    for n, website in enumerate(each[part:], start=part + 1):
                        # Within a customer the cursor stays before them, past n websites.
                        at: JSONObject = {"phase": phase, "after": before, "part": n}
                        if n == len(each):
                            at = {"phase": phase, "after": after}
                        yield self._customer(row, website, at, row.pk in websites)
                    part = 0

    @staticmethod
    def _rows(phase: str, since: datetime | None, until: datetime | None) -> QuerySet[Any]:
        if phase == "customers":
            rows = get_user_model().objects.exclude(email="").order_by("date_joined", "pk")
            date = "date_joined"
        else:
            order = get_model("order", "Order")
            rows = order.objects.order_by("date_placed", "pk").prefetch_related(
                "discounts", "lines__product"
            )
            date = "date_placed"
        if since:
            rows = rows.filter(**{f"{date}__gte": since})
        if until:
            rows = rows.filter(**{f"{date}__lt": until})
        return rows

    @staticmethod
    def _customer(row: Any, website: str, cursor: JSONObject, ordered: bool) -> Item:
        where = f"customer {row.pk}"
        if not website:  # no SEG_WEBSITE_ID, and their orders' Sites (if any) unmapped
            return Item(None, where, cursor, UNMAPPED if ordered else NO_WEBSITE)
        message_id = customer_message_id(row, website)
        call = customer_identify(row, None, timestamp=row.date_joined, message_id=message_id)
        return Item(call, where, cursor, website=website)

    @staticmethod
    def _order(row: Any, cursor: JSONObject) -> Item:
        # An order goes to its own Site's Seg website (SEG_WEBSITES), as the receiver's.
        website = visitor.website(None, row)
        return Item(order_completed(row, None), f"order {row.number}", cursor, website=website)


def _websites(customers: Iterable[Any]) -> dict[Any, list[str]]:
    """The Seg websites of each customer's orders (``_pairs``), SEG_WEBSITE_ID's first;
    customers without orders are left out."""
    found: dict[Any, dict[str, None]] = {}
    for user_id, website in _pairs(customers):
        found.setdefault(user_id, {})[website] = None
    default = conf.website_for()
    return {user: sorted(each, key=lambda w: w != default) for user, each in found.items()}


def _pairs(customers: Iterable[Any] | QuerySet[Any]) -> Iterator[tuple[Any, str]]:
    """Each customer with orders and the Seg website of each of their orders' Sites
    (``visitor.website``'s rule: in SEG_WEBSITES, else SEG_WEBSITE_ID), by customer pk,
    streamed in pages of PAGE rows. Two queries (a subquery for ``customers`` given as a
    QuerySet); two Sites may give one website twice."""
    order = get_model("order", "Order")
    sites = {site.pk: site for site in Site.objects.all()}
    chosen = customers if isinstance(customers, QuerySet) else list(customers)
    pairs = order.objects.filter(user_id__in=chosen).values_list("user_id", "site_id")
    for user_id, site_id in pairs.order_by("user_id", "site_id").distinct().iterator(PAGE):
        yield user_id, conf.website_for(site=sites.get(site_id))
