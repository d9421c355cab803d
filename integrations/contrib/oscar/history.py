"""An Oscar shop's history as a backfill's source: every customer, then every placed order.

Customers come first, oldest ``date_joined`` first, each as the live
receivers' ``identify`` dated when they joined; then orders, oldest
``date_placed`` first, each as the receivers' ``Order Completed`` dated when
it was placed. So each customer's calls reach Seg in the order they
happened. The cursor is the phase and the last (date, pk) read: keyset
pages, whatever the size of the shop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from oscar.core.loading import get_model

from ...backfill import Item
from ...core import JSONObject
from ...models import BackfillRun
from . import visitor
from .calls import customer_identify, customer_message_id, order_completed

# Rows one query reads.
PAGE = 200
PHASES = (("customers", "date_joined"), ("orders", "date_placed"))


class OscarHistory:
    """Oscar's customers (users with an email) and placed orders, in the window
    ``since`` <= date < ``until`` (date_joined for a customer, date_placed for an order)."""

    kind: str = BackfillRun.Kind.OSCAR
    path = ""

    def count(self, since: datetime | None, until: datetime | None) -> int:
        return sum(self._rows(phase, since, until).count() for phase, _ in PHASES)

    def items(
        self, cursor: JSONObject, since: datetime | None, until: datetime | None
    ) -> Iterator[Item]:
        start = str(cursor.get("phase", PHASES[0][0]))
        names = [phase for phase, _ in PHASES]
        for phase, date in PHASES[names.index(start) :]:
            after = cursor.get("after") if phase == start else None
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
                for row in found:
                    after = [getattr(row, date).isoformat(), row.pk]
                    yield self._item(phase, row, {"phase": phase, "after": after})

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
    def _item(phase: str, row: Any, cursor: JSONObject) -> Item:
        if phase == "customers":
            call = customer_identify(
                row, None, timestamp=row.date_joined, message_id=customer_message_id(row)
            )
            return Item(call, f"customer {row.pk}", cursor)
        # An order goes to its own Site's Seg website (SEG_WEBSITES), as the receiver's.
        website = visitor.website(None, row)
        return Item(order_completed(row, None), f"order {row.number}", cursor, website=website)
